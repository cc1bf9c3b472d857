"""Progress for long-running verbs: a rich progress bar on a terminal, plain log lines otherwise."""

from __future__ import annotations

import logging
import sys
import time
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import IO, TypeVar

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

T = TypeVar("T")
log = logging.getLogger("canary.progress")


class ProgressReporter:
    """One task's progress. ``advance(n)`` as work gets done; ``total`` may grow."""

    def __init__(self, description: str, total: int | None, stream: IO[str] | None = None,
                 *, log_every_s: float = 5.0) -> None:
        self.description = description
        self.total = total
        self.done = 0
        self._stream = stream if stream is not None else sys.stderr
        self._interactive = bool(getattr(self._stream, "isatty", lambda: False)())
        self._log_every_s = log_every_s
        self._last_log = 0.0
        self._progress: Progress | None = None
        self._task_id: int | None = None

    @property
    def interactive(self) -> bool:
        return self._interactive

    def __enter__(self) -> ProgressReporter:
        if self._interactive:
            from rich.console import Console

            self._progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TimeElapsedColumn(),
                console=Console(file=self._stream),
                transient=False,
                # Drawn at each advance, not by a refresh thread: a process running no other thread may fork a
                # pull's readers (`sync.runner.READ_APART`).
                auto_refresh=False,
            )
            self._progress.start()
            self._task_id = self._progress.add_task(self.description, total=self.total)
        else:
            log.info("%s: started%s", self.description, f" ({self.total} to do)" if self.total else "")
            self._last_log = time.monotonic()
        return self

    def advance(self, n: int = 1, *, total: int | None = None) -> None:
        self.done += n
        if total is not None:
            self.total = total
        if self._progress is not None and self._task_id is not None:
            self._progress.update(self._task_id, completed=self.done, total=self.total,  # type: ignore[arg-type]
                                  refresh=True)
            return
        now = time.monotonic()
        if now - self._last_log >= self._log_every_s:
            self._last_log = now
            of = f"/{self.total}" if self.total else ""
            log.info("%s: %d%s done", self.description, self.done, of)

    def __exit__(self, *exc: object) -> None:
        if self._progress is not None:
            self._progress.stop()
        else:
            of = f"/{self.total}" if self.total else ""
            log.info("%s: finished, %d%s done", self.description, self.done, of)


@contextmanager
def progress(description: str, total: int | None = None, stream: IO[str] | None = None
             ) -> Iterator[ProgressReporter]:
    with ProgressReporter(description, total, stream) as reporter:
        yield reporter


def track(items: Iterable[T], description: str, total: int | None = None) -> Iterator[T]:
    with progress(description, total) as reporter:
        for item in items:
            yield item
            reporter.advance()
