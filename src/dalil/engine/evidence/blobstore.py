"""A content-addressed, write-once store of evidence bytes.

Layout: ``<root>/sha256/ab/cd/abcd...`` — the same as git's and Autopsy's case stores use in
spirit: the name is the SHA-256 of the content, so a changed byte can never hide under an old
name, and a blob once written is made read-only and never rewritten.
"""

from __future__ import annotations

import errno
import hashlib
import os
import tempfile
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path
from typing import BinaryIO

CHUNK = 1024 * 1024
# A whole chunk of zeros is not written but skipped over (a hole, where the file system
# has them): disk images are often mostly zeros (a 640 MiB APFS container holds 400 KB),
# and the stored file reads back the same bytes, so its SHA-256 is unchanged.
_ZEROS = bytes(CHUNK)


class BlobStoreError(Exception):
    """A blob could not be stored or read; the message names the blob or the source."""


@dataclass(frozen=True)
class StoredBlob:
    sha256: str
    size: int  # bytes
    path: Path
    hashes: dict[str, str] = field(default_factory=dict)  # every digest computed on the way in


class BlobStore:
    """Write-once blobs named by their SHA-256 under ``root``."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)

    def path_for(self, sha256: str) -> Path:
        """Where the blob with this SHA-256 (lower-case hex) lives, whether or not it exists."""
        if len(sha256) != 64 or any(c not in "0123456789abcdef" for c in sha256):
            raise BlobStoreError(f"not a SHA-256 hex digest: {sha256!r}")
        return self.root / "sha256" / sha256[:2] / sha256[2:4] / sha256

    def exists(self, sha256: str) -> bool:
        return self.path_for(sha256).is_file()

    def put_stream(
        self,
        stream: BinaryIO,
        *,
        expected_size: int | None = None,
        progress: Callable[[int], None] | None = None,
        also: tuple[str, ...] = (),
    ) -> StoredBlob:
        """Copy a stream into the store, hashing on the way in; memory stays at one chunk.

        A stream that ends before ``expected_size`` bytes is refused (an upload cut off
        mid-way) and leaves nothing behind.
        """
        chunks = iter(lambda: stream.read(CHUNK), b"")
        return self.put_chunks(chunks, expected_size, progress, also)

    def put_chunks(
        self,
        chunks: Iterable[bytes],
        expected_size: int | None = None,
        progress: Callable[[int], None] | None = None,
        also: tuple[str, ...] = (),
    ) -> StoredBlob:
        """Store the concatenation of ``chunks``; see :meth:`put_stream`.

        ``also`` names further hashlib algorithms (md5, sha1...) computed in the same pass.
        """
        tmp_dir = self.root / "tmp"
        tmp_dir.mkdir(parents=True, exist_ok=True)
        digest = hashlib.sha256()
        others = {name: hashlib.new(name) for name in also if name != "sha256"}
        size = 0
        fd, tmp_name = tempfile.mkstemp(dir=tmp_dir, prefix="incoming-")
        try:
            try:
                with os.fdopen(fd, "wb") as out:
                    for chunk in chunks:
                        digest.update(chunk)
                        for other in others.values():
                            other.update(chunk)
                        if chunk == _ZEROS:
                            out.seek(len(chunk), os.SEEK_CUR)
                        else:
                            out.write(chunk)
                        size += len(chunk)
                        if progress is not None:
                            progress(size)
                    out.truncate(size)  # the file's length, when it ends in a hole
                    out.flush()
                    os.fsync(out.fileno())
            except OSError as exc:
                if exc.errno in (errno.ENOSPC, errno.EDQUOT):
                    raise BlobStoreError(
                        f"disk full while storing into {self.root} after {size} bytes; "
                        "nothing was stored: free space and try again"
                    ) from exc
                raise
            if expected_size is not None and size != expected_size:
                raise BlobStoreError(
                    f"incomplete data: received {size} of {expected_size} bytes; nothing was stored"
                )
            sha = digest.hexdigest()
            final = self.path_for(sha)
            if final.exists():
                os.unlink(tmp_name)
            else:
                final.parent.mkdir(parents=True, exist_ok=True)
                os.chmod(tmp_name, 0o444)
                os.replace(tmp_name, final)
            hashes = {name: h.hexdigest() for name, h in others.items()}
            hashes["sha256"] = sha
            return StoredBlob(sha, size, final, hashes)
        except BaseException:
            if os.path.exists(tmp_name):
                os.unlink(tmp_name)
            raise

    def put_file(
        self,
        path: Path,
        progress: Callable[[int], None] | None = None,
        also: tuple[str, ...] = (),
    ) -> StoredBlob:
        """Copy a file into the store (the source is only read)."""
        try:
            with open(path, "rb") as handle:
                return self.put_stream(handle, progress=progress, also=also)
        except OSError as exc:
            raise BlobStoreError(f"cannot read {path}: {exc.strerror or exc}") from exc

    def put_bytes(self, data: bytes) -> StoredBlob:
        return self.put_chunks([data])

    def open(self, sha256: str) -> BinaryIO:
        path = self.path_for(sha256)
        try:
            return open(path, "rb")
        except FileNotFoundError as exc:
            raise BlobStoreError(f"blob {sha256} is missing from {self.root}") from exc

    def rehash(self, sha256: str) -> str:
        """SHA-256 of the stored bytes as they are now (to detect a changed or damaged blob)."""
        digest = hashlib.sha256()
        with self.open(sha256) as handle:
            while chunk := handle.read(CHUNK):
                digest.update(chunk)
        return digest.hexdigest()
