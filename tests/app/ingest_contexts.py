"""Progress contexts for ingest tests: one that keeps the messages, one that stops the run as
Ctrl+C would."""

from __future__ import annotations

from dalil.app.forensics import services


class InterruptAfter(services.QuietContext):
    """Ctrl+C after ``batches`` batches were stored."""

    def __init__(self, batches: int) -> None:
        self.left = batches

    def cancelled(self) -> bool:
        self.left -= 1
        if self.left == 0:
            raise KeyboardInterrupt
        return False


class Messages(services.QuietContext):
    """Keeps every progress message."""

    def __init__(self) -> None:
        self.seen: list[str] = []

    def progress(self, done, total=None, message=None, *, stop_if_cancelled=True) -> None:
        if message:
            self.seen.append(message)
