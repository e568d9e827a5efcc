"""A real connection that stops sending mid-upload (less than its Content-Length)."""

from __future__ import annotations

import re
import socket
from http.client import HTTPConnection
from urllib.parse import urlsplit

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from django.test.client import BOUNDARY, MULTIPART_CONTENT, encode_multipart

from dalil.app.accounts.models import Institution, Role, User
from dalil.app.cases import services
from dalil.app.cases.models import Exhibit


@pytest.fixture
def setup(transactional_db):
    academy = Institution.objects.create(name="Academy", country="KZ")
    user = User.objects.create_user("examiner", password="x" * 12, role=Role.EXAMINER,
                                    institution=academy)
    case = services.create_case(number="KZ-CUT-1", title="t", actor="examiner", user=user)
    client = Client()
    client.force_login(user)
    return case, client.cookies["sessionid"].value


def test_a_dropped_connection_stores_nothing(live_server, setup):
    case, session = setup
    url = urlsplit(live_server.url)
    path = f"/cases/{case.pk}/exhibits/new/"
    conn = HTTPConnection(url.hostname, url.port, timeout=30)
    conn.request("GET", path, headers={"Cookie": f"sessionid={session}"})
    response = conn.getresponse()
    page = response.read().decode()
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page).group(1)
    csrf_cookie = re.search(r"csrftoken=([^;]+)", response.getheader("Set-Cookie")).group(1)
    conn.close()

    body = encode_multipart(BOUNDARY, {
        "csrfmiddlewaretoken": token, "number": "E1", "type": "storage",
        "evidence": SimpleUploadedFile("disk.img", b"\x00" * 4_000_000),
        "upload_complete": "1"})
    head = (f"POST {path} HTTP/1.1\r\nHost: {url.hostname}:{url.port}\r\n"
            f"Cookie: sessionid={session}; csrftoken={csrf_cookie}\r\n"
            f"Content-Type: {MULTIPART_CONTENT}\r\nContent-Length: {len(body)}\r\n"
            "Connection: close\r\n\r\n").encode()
    with socket.create_connection((url.hostname, url.port), timeout=30) as sock:
        sock.sendall(head + body[: len(body) // 2])
        sock.shutdown(socket.SHUT_WR)  # the client goes away mid-file
        reply = b""
        while chunk := sock.recv(65536):
            reply += chunk
    assert b" 200 " in reply.split(b"\r\n", 1)[0]
    assert b"upload was cut off" in reply
    assert not Exhibit.objects.filter(case=case).exists()
