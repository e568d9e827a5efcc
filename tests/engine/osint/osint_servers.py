"""A local website and a SOCKS5 proxy standing in for Tor, for capture tests.

The proxy speaks just enough of RFC 1928 (no authentication, CONNECT by domain name or
IPv4) to do what Tor's SOCKS port does for a client: take the host *name* and connect
on its side. Every name is sent to the local website; the names asked for are recorded,
so a test can check that the client never resolved an onion name itself.
"""

from __future__ import annotations

import gzip
import select
import socket
import socketserver
import struct
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from dalil.engine.ledger.onion import v3_address


def onion(n: int) -> str:
    """A valid v3 onion name, different for every ``n`` (0-255)."""
    return v3_address(bytes([n]) * 32)


class Site(BaseHTTPRequestHandler):
    pages: dict[str, tuple[int, dict[str, str], bytes]] = {}

    def do_GET(self) -> None:
        host = (self.headers.get("Host") or "").split(":")[0]
        status, headers, body = self.pages.get(f"{host}{self.path}",
                                               (404, {"Content-Type": "text/plain"}, b"nope"))
        if "gzip" in self.headers.get("Accept-Encoding", "") and status == 200:
            body = gzip.compress(body, mtime=0)
            headers = {**headers, "Content-Encoding": "gzip"}
        self.send_response(status)
        for key, value in headers.items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args: object) -> None:
        pass


class Socks5(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.names: list[str] = []
        super().__init__(("127.0.0.1", 0), _SocksHandler)


class _SocksHandler(socketserver.BaseRequestHandler):
    def _exact(self, n: int) -> bytes:
        data = b""
        while len(data) < n:
            chunk = self.request.recv(n - len(data))
            if not chunk:
                raise ConnectionError("client went away")
            data += chunk
        return data

    def handle(self) -> None:
        server: Socks5 = self.server  # type: ignore[assignment]
        _version, n_methods = self._exact(2)
        self._exact(n_methods)
        self.request.sendall(b"\x05\x00")
        _, _command, _, atyp = self._exact(4)
        if atyp == 3:
            name = self._exact(self._exact(1)[0]).decode()
        elif atyp == 1:
            name = socket.inet_ntoa(self._exact(4))
        else:
            self.request.sendall(b"\x05\x08\x00\x01" + bytes(6))
            return
        self._exact(2)  # port: every name goes to the local site
        server.names.append(name)
        upstream = socket.create_connection(server.target)
        self.request.sendall(b"\x05\x00\x00\x01" + socket.inet_aton("127.0.0.1")
                             + struct.pack(">H", server.target[1]))
        sockets = [self.request, upstream]
        with upstream:
            while True:
                ready, _, _ = select.select(sockets, [], [], 5)
                if not ready:
                    return
                for sock in ready:
                    data = sock.recv(65536)
                    if not data:
                        return
                    (upstream if sock is self.request else self.request).sendall(data)


class Servers:
    def __init__(self) -> None:
        self.site = ThreadingHTTPServer(("127.0.0.1", 0), Site)
        self.proxy = Socks5(self.site.server_address[:2])
        for server in (self.site, self.proxy):
            threading.Thread(target=server.serve_forever, daemon=True).start()

    @property
    def proxy_url(self) -> str:
        return f"socks5h://127.0.0.1:{self.proxy.server_address[1]}"

    def close(self) -> None:
        for server in (self.site, self.proxy):
            server.shutdown()
            server.server_close()
