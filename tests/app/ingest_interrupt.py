"""A progress context that stops an ingest as Ctrl+C would, after a number of batches."""

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
