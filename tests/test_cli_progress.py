"""The command line's progress bar (`cli.progress`): drawn at each advance by the calling thread, so a verb that
shows it still runs no other thread (a sync may then fork its readers, `sync.runner.READ_APART`)."""

from __future__ import annotations

import io
import threading

from cli.progress import ProgressReporter


class _Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def test_the_bar_is_drawn_at_each_advance_without_a_thread_of_its_own() -> None:
    out = _Terminal()
    threads: list[int] = []
    before = threading.active_count()
    with ProgressReporter("Pulling records", 100, stream=out) as bar:
        bar.advance(40)
        threads.append(threading.active_count())
        drawn = out.getvalue()
        bar.advance(20)
    assert threads == [before]
    assert "Pulling records" in drawn and "40/100" in drawn
    assert "60/100" in out.getvalue()
