"""Checkpoints of an acquisition: ``<out_dir>/<basename>.acquire.json``.

A checkpoint claims that the image holds the source's bytes ``[0, offset)``. It is only
written after the image files were fsync'ed, and it is replaced atomically (temporary
file, fsync, rename, fsync of the directory), so after a crash or a power cut it never
claims more than what is on the disk.

The fsyncs are slow on ordinary disks (they wait for the device), so periodic checkpoints
are taken by a background thread while the acquisition goes on; requests that arrive
while one is being written are coalesced into the newest.
"""

from __future__ import annotations

import json
import os
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

from dalil.engine.evidence.acquisition_io import fsync_dir, fsync_paths

CHECKPOINT_VERSION = 1


def checkpoint_path(out_dir: Path, basename: str) -> Path:
    """Where the checkpoint of ``basename`` lives."""
    return out_dir / f"{basename}.acquire.json"


def write_json_atomic(path: Path, document: dict[str, Any]) -> None:
    """Replace ``path`` with ``document`` so that readers see the old or the new, never half."""
    tmp = path.with_name(f".{path.name}.tmp")
    data = json.dumps(document, indent=2, sort_keys=True).encode("utf-8")
    fd = os.open(str(tmp), os.O_WRONLY | os.O_CREAT | os.O_TRUNC | os.O_CLOEXEC, 0o644)
    try:
        view = memoryview(data)
        while view.nbytes:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(tmp, path)
    fsync_dir(path.parent)


def load_checkpoint(path: Path) -> dict[str, Any]:
    """Read a checkpoint; raises OSError if missing and ValueError if it is not one."""
    with open(path, "rb") as handle:
        document = json.load(handle)
    if not isinstance(document, dict) or document.get("version") != CHECKPOINT_VERSION:
        raise ValueError(f"{path} is not a Dalil acquisition checkpoint (version 1)")
    for key in ("offset", "source", "format", "errors"):
        if key not in document:
            raise ValueError(f"{path} lacks {key!r}")
    return document


class Checkpointer:
    """Writes checkpoints: in the background with :meth:`request`, or now with :meth:`write_now`.

    ``dirty`` arguments name image files written since the previous request; they are
    fsync'ed before the checkpoint that covers them is written.
    """

    def __init__(self, path: Path, after_commit: Callable[[int], None] | None = None) -> None:
        self.path = path
        self.after_commit = after_commit  # called in the thread with each checkpoint's offset
        self.written_offset: int | None = None  # offset of the last checkpoint on disk
        self.error: OSError | None = None
        self._lock = threading.Condition()
        self._pending: dict[str, Any] | None = None
        self._unsynced: set[str] = set()
        self._stop = False
        self._thread = threading.Thread(target=self._run, name="dalil-checkpoint", daemon=True)
        self._thread.start()

    def request(self, document: dict[str, Any], dirty: set[str]) -> None:
        """Ask for ``document`` to be written once ``dirty`` files are synced; returns at once."""
        with self._lock:
            self._unsynced |= dirty
            self._pending = document
            self._lock.notify()

    def _run(self) -> None:
        while True:
            with self._lock:
                while self._pending is None and not self._stop:
                    self._lock.wait()
                if self._stop:
                    return
                document, self._pending = self._pending, None
                to_sync, self._unsynced = self._unsynced, set()
            try:
                self._commit(document, to_sync)  # type: ignore[arg-type]
            except OSError as exc:
                with self._lock:
                    self._unsynced |= to_sync  # still to be synced by a later checkpoint
                    self.error = exc
                continue
            if self.after_commit is not None:
                # Read-back verification of what is now on disk, while the copy goes on.
                self.after_commit(int(document["offset"]))  # type: ignore[index]

    def _commit(self, document: dict[str, Any], to_sync: set[str]) -> None:
        fsync_paths(to_sync)
        if to_sync:
            fsync_dir(self.path.parent)  # new segment files must survive too
        write_json_atomic(self.path, document)
        self.written_offset = int(document["offset"])

    def stop(self) -> None:
        """Stop the background thread, dropping a request not yet started."""
        with self._lock:
            self._stop = True
            self._pending = None
            self._lock.notify_all()
        self._thread.join()

    def write_now(self, document: dict[str, Any], dirty: set[str]) -> None:
        """Stop the background thread and write ``document`` synchronously (raises OSError)."""
        self.stop()
        with self._lock:
            to_sync = self._unsynced | dirty
            self._unsynced = set()
        self._commit(document, to_sync)

    def sync_only(self, dirty: set[str]) -> None:
        """Stop the background thread and fsync every file written and not yet synced."""
        self.stop()
        with self._lock:
            to_sync = self._unsynced | dirty
            self._unsynced = set()
        fsync_paths(to_sync)
        if to_sync:
            fsync_dir(self.path.parent)

    def remove(self) -> None:
        """Delete the checkpoint (the acquisition finished); durable."""
        try:
            os.unlink(self.path)
        except FileNotFoundError:
            return
        fsync_dir(self.path.parent)
