"""`dalil onion capture URL --case N` and `dalil onion correlate --case N`."""

from __future__ import annotations

import hashlib
import json
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "engine" / "osint"))
from osint_servers import Servers, Site

from dalil.engine.ledger.onion import v3_address

GENESIS = "1A1zP1eP5QGefi2DMPTfTL5SLmv7DivfNa"


@pytest.fixture
def servers():
    Site.pages = {}
    running = Servers()
    yield running
    running.close()


def test_capture_two_sites_then_correlate(dalil, servers):
    market, forum = v3_address(b"\x11" * 32), v3_address(b"\x22" * 32)
    Site.pages[f"{market}/"] = (200, {"Content-Type": "text/html"},
                                f"<p>pay {GENESIS}</p><p>vendor: darkseller</p>".encode())
    Site.pages[f"{forum}/t/1"] = (200, {"Content-Type": "text/html"},
                                  f"<p>seller wallet {GENESIS}</p>".encode())
    dalil("case", "create", "--number", "KZ-2026-77", "--title", "Market", check=True)
    first = dalil.json("onion", "capture", f"http://{market}/", "--case", "KZ-2026-77",
                       "--proxy", servers.proxy_url)
    assert first["exhibit"] == "C1" and first["status"] == 200
    second = dalil.json("onion", "capture", f"http://{forum}/t/1", "--case", "KZ-2026-77",
                        "--proxy", servers.proxy_url)
    assert second["exhibit"] == "C2"
    custody = dalil.json("custody", "show", "KZ-2026-77")
    acquired = [e for e in json.dumps(custody).split('"action": ')[1:]
                if e.startswith('"acquired"')]
    assert len(acquired) == 2
    verify = dalil("verify", "KZ-2026-77", "--json")
    assert verify.returncode == 0, verify.stdout + verify.stderr
    result = dalil.json("onion", "correlate", "--case", "KZ-2026-77")
    (link,) = [x for x in result["links"] if x["kind"] == "bitcoin"]
    assert link["value"] == GENESIS and link["sites"] == sorted([market, forum])
    assert {"kind": "username", "value": "vendor:darkseller"} in result["sites"][market]
    digest = first["warc_sha256"]
    stored = dalil.home / "blobs" / "sha256" / digest[:2] / digest[2:4] / digest
    assert hashlib.sha256(stored.read_bytes()).hexdigest() == digest


def test_a_failed_capture_records_nothing(dalil, servers):
    dalil("case", "create", "--number", "KZ-2026-78", "--title", "Down", check=True)
    result = dalil("onion", "capture", "http://expyuzz4wqqyqhjn.onion/", "--case",
                   "KZ-2026-78", "--proxy", servers.proxy_url)
    assert result.returncode == 1 and "obsolete" in result.stderr
    down = dalil("onion", "capture", f"http://{v3_address(bytes(32))}/", "--case",
                 "KZ-2026-78", "--proxy", "socks5h://127.0.0.1:9", "--timeout", "5")
    assert down.returncode == 1 and "through the proxy" in down.stderr
    case = dalil.json("case", "show", "KZ-2026-78")
    assert case["exhibits"] == []
    assert dalil("onion", "capture", "http://x.onion/", "--case", "NOPE").returncode == 1
