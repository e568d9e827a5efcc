"""Capture a web page, an onion service above all, through a SOCKS5 proxy into a WARC file.

Tor's client (Debian's ``tor``) listens on 127.0.0.1:9050; ``socks5h`` makes the proxy, not
this machine, resolve the host name, which is the only way an ``.onion`` name resolves and
keeps the lookup off the local DNS. Every request and response (redirects included) goes
into one gzipped WARC 1.1 file, written by warcio, with a ``warcinfo`` record naming the
tool, proxy and operator and a closing ``metadata`` record holding the capture record. The
file is written under a temporary name and renamed when complete, so a cut capture leaves
no WARC that looks whole.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import json
import os
import zlib
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import urljoin, urlsplit

import requests
from warcio.statusandheaders import StatusAndHeaders
from warcio.warcwriter import WARCWriter

from dalil.engine.ledger.onion import check_onion

DEFAULT_PROXY = "socks5h://127.0.0.1:9050"
MAX_BYTES = 50 * 1024 * 1024
MAX_REDIRECTS = 5
# Tor Browser's user agent: a capture should look like the visitors the site expects.
USER_AGENT = "Mozilla/5.0 (Windows NT 10.0; rv:128.0) Gecko/20100101 Firefox/128.0"
_HOP_BY_HOP = {"transfer-encoding", "connection", "keep-alive"}


class CaptureError(Exception):
    """The page could not be captured; the message names the URL and the reason."""


@dataclass(frozen=True)
class Hop:
    url: str
    status: int
    content_type: str
    size: int  # bytes of the body as received (before any content decoding)
    sha256: str
    truncated: bool


@dataclass(frozen=True)
class CaptureRecord:
    """What was captured, when (UTC), through which proxy, and the WARC's own hashes."""

    url: str
    final_url: str
    proxy: str
    started: str
    ended: str
    status: int
    content_type: str
    body_size: int
    body_sha256: str
    warc: str
    warc_size: int
    warc_sha256: str
    warc_md5: str
    tool: str
    operator: str
    onion: dict[str, Any] | None
    hops: list[Hop] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def check_url(url: str) -> str:
    """The URL as it will be fetched, or CaptureError saying what is wrong with it."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise CaptureError(f"{url!r} is not an http(s) URL with a host")
    host = parts.hostname
    if host.endswith(".onion"):
        verdict = check_onion(host)
        if not verdict.valid:
            raise CaptureError(f"{url}: {verdict.address}: {verdict.reason}")
    return parts.geturl()


def decoded_body(body: bytes, content_encoding: str) -> bytes:
    """The body with its Content-Encoding (gzip, deflate) removed, for analysis only."""
    encoding = content_encoding.strip().lower()
    try:
        if encoding in ("gzip", "x-gzip"):
            return gzip.decompress(body)
        if encoding == "deflate":
            try:
                return zlib.decompress(body)
            except zlib.error:
                return zlib.decompress(body, -zlib.MAX_WBITS)
    except (OSError, EOFError, zlib.error):
        return body
    return body


def _read_raw(response: requests.Response, limit: int) -> tuple[bytes, bool]:
    chunks: list[bytes] = []
    size = 0
    for chunk in response.raw.stream(65536, decode_content=False):
        chunks.append(chunk)
        size += len(chunk)
        if size > limit:
            return b"".join(chunks)[:limit], True
    return b"".join(chunks), False


def _file_hashes(path: Path) -> tuple[str, str]:
    sha256, md5 = hashlib.sha256(), hashlib.md5()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            sha256.update(block)
            md5.update(block)
    return sha256.hexdigest(), md5.hexdigest()


def capture(url: str, warc_path: str | Path, *, proxy: str = DEFAULT_PROXY,
            timeout: float = 90.0, max_bytes: int = MAX_BYTES, operator: str = "",
            tool: str = "dalil") -> CaptureRecord:
    """Fetch ``url`` through ``proxy`` (SOCKS5, e.g. Tor) into a new WARC at ``warc_path``.

    Redirects are followed (up to 5) and each hop is recorded. Bodies larger than
    ``max_bytes`` are cut there and marked truncated. Raises :class:`CaptureError` naming the
    URL for an invalid URL or onion address, an unreachable proxy or site, or a timeout.
    """
    target = check_url(url)
    out = Path(warc_path)
    if out.exists():
        raise CaptureError(f"{out} exists; a capture never overwrites a file")
    tmp = out.with_name(out.name + ".part")
    started = _now()
    session = requests.Session()
    session.trust_env = False  # only the proxy given here, never one from the environment
    session.proxies = {"http": proxy, "https": proxy}
    session.headers.update({"User-Agent": USER_AGENT, "Accept-Encoding": "gzip, deflate"})
    hops: list[Hop] = []
    onion = None
    host = urlsplit(target).hostname or ""
    if host.endswith(".onion"):
        onion = check_onion(host).to_dict()
    try:
        with open(tmp, "wb") as handle:
            writer = WARCWriter(handle, gzip=True, warc_version="WARC/1.1")
            info = {"software": tool, "format": "WARC File Format 1.1",
                    "proxy": proxy, "operator": operator, "target": target}
            writer.write_record(writer.create_warcinfo_record(out.name, info))
            current = target
            final_body = b""
            for _ in range(MAX_REDIRECTS + 1):
                response, body, truncated = _fetch(session, current, timeout, max_bytes)
                _write_exchange(writer, current, response, body)
                headers = {k.lower(): v for k, v in response.raw.headers.items()}
                hops.append(Hop(current, response.status_code, headers.get("content-type", ""),
                                len(body), hashlib.sha256(body).hexdigest(), truncated))
                final_body = body
                location = headers.get("location")
                if response.is_redirect and location:
                    current = check_url(urljoin(current, location))
                    continue
                break
            else:
                raise CaptureError(f"{target}: more than {MAX_REDIRECTS} redirects")
            ended = _now()
            summary = {"url": target, "final_url": hops[-1].url, "started": started,
                       "ended": ended, "hops": [asdict(h) for h in hops]}
            writer.write_record(writer.create_warc_record(
                target, "metadata", payload=io.BytesIO(json.dumps(summary).encode()),
                warc_headers_dict={"Content-Type": "application/json"}))
            handle.flush()
            os.fsync(handle.fileno())
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    os.replace(tmp, out)
    sha256, md5 = _file_hashes(out)
    last = hops[-1]
    return CaptureRecord(
        url=target, final_url=last.url, proxy=proxy, started=started, ended=ended,
        status=last.status, content_type=last.content_type, body_size=len(final_body),
        body_sha256=last.sha256, warc=str(out), warc_size=out.stat().st_size,
        warc_sha256=sha256, warc_md5=md5, tool=tool, operator=operator, onion=onion,
        hops=hops,
    )


def _fetch(session: requests.Session, url: str, timeout: float,
           max_bytes: int) -> tuple[requests.Response, bytes, bool]:
    proxy = session.proxies.get("http", "")
    try:
        response = session.get(url, stream=True, timeout=timeout, allow_redirects=False)
        with response:
            body, truncated = _read_raw(response, max_bytes)
    except requests.exceptions.ProxyError as exc:
        raise CaptureError(f"{url}: the proxy refused or is not running ({exc})") from exc
    except requests.exceptions.Timeout as exc:
        raise CaptureError(f"{url}: no answer within {timeout:g} s") from exc
    except requests.exceptions.InvalidSchema as exc:
        raise CaptureError(f"{url}: {exc} (is PySocks installed?)") from exc
    except requests.exceptions.ConnectionError as exc:
        raise CaptureError(f"{url}: no connection through the proxy {proxy} (is it running, "
                           f"and is the service online?): {exc}") from exc
    except requests.exceptions.RequestException as exc:
        raise CaptureError(f"{url}: {exc}") from exc
    return response, body, truncated


def _write_exchange(writer: WARCWriter, url: str, response: requests.Response,
                    body: bytes) -> None:
    request = response.request
    parts = urlsplit(url)
    path = (parts.path or "/") + (f"?{parts.query}" if parts.query else "")
    request_headers = StatusAndHeaders(
        f"GET {path} HTTP/1.1", [("Host", parts.netloc), *request.headers.items()],
        is_http_request=True)
    writer.write_record(writer.create_warc_record(url, "request",
                                                  http_headers=request_headers))
    # The body is stored as it came (content-encoded), but de-chunked by the HTTP client:
    # drop the hop-by-hop headers so that WARC readers do not try to de-chunk it again.
    headers = [(k, v) for k, v in response.raw.headers.items() if k.lower() not in _HOP_BY_HOP]
    protocol = {10: "HTTP/1.0", 11: "HTTP/1.1"}.get(response.raw.version, "HTTP/1.1")
    http_headers = StatusAndHeaders(f"{response.status_code} {response.reason or ''}".strip(),
                                    headers, protocol=protocol)
    writer.write_record(writer.create_warc_record(url, "response", payload=io.BytesIO(body),
                                                  http_headers=http_headers))
