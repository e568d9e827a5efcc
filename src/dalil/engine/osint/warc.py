"""Read the responses back out of a WARC file (a capture), content decoded."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO

from warcio.archiveiterator import ArchiveIterator
from warcio.exceptions import ArchiveLoadFailed


class WarcError(Exception):
    """Not a readable WARC file."""


@dataclass(frozen=True)
class WarcResponse:
    url: str
    date: str
    status: str
    content_type: str
    body: bytes  # de-chunked and content-decoded (gzip, deflate)


def responses(stream: BinaryIO, *, name: str = "WARC") -> Iterator[WarcResponse]:
    """The HTTP responses of a WARC stream in file order."""
    records = 0
    try:
        for record in ArchiveIterator(stream):
            records += 1
            if record.format != "warc":
                raise WarcError(f"{name}: not a WARC file (record {records} reads as "
                                f"{record.format or 'unknown'})")
            if record.rec_type != "response" or record.http_headers is None:
                continue
            yield WarcResponse(
                url=record.rec_headers.get_header("WARC-Target-URI") or "",
                date=record.rec_headers.get_header("WARC-Date") or "",
                status=record.http_headers.get_statuscode() or "",
                content_type=record.http_headers.get_header("Content-Type") or "",
                body=record.content_stream().read(),
            )
    except ArchiveLoadFailed as exc:
        raise WarcError(f"{name}: not a readable WARC file ({exc})") from exc
    if not records:
        raise WarcError(f"{name}: not a WARC file (no records)")
