"""Progress of long commands (sync, pull): a rich bar on stderr, and what Ctrl-C kept.

The bar is drawn only when stderr is a terminal and the command prints no machine format
(``--json``): logs, pipes and JSON consumers see nothing of it. rich is imported only when a
bar is drawn.

A :class:`Progress` is the ``progress`` callback :func:`ptmhub.api.sync` and
:func:`ptmhub.api.pull` take: called with how many records (or bytes) were just done. A producer
that knows how many there will be says so through ``set_total(n)`` (``getattr(progress,
"set_total", None)``, so a plain function still works as a callback); without a total the bar
shows the count and the rate.
"""

from __future__ import annotations

import sys
import time
from types import TracebackType
from typing import Any


class Interrupted(KeyboardInterrupt):
    """Ctrl-C, with what the command kept: the CLI prints the message and exits 130."""


def human_bytes(n: int) -> str:
    from ..records import human_bytes as _hb

    return _hb(n)


class Progress:
    """Counts what a long command has done and draws it (see the module docstring)."""

    def __init__(self, label: str, *, unit: str = "records", total: int | None = None,
                 enabled: bool | None = None) -> None:
        self.label, self.unit, self.total = label, unit, total
        self.done = 0
        self.started = time.monotonic()
        self.enabled = _stderr_is_a_terminal() if enabled is None else enabled
        self._bar: Any = None
        self._task: Any = None

    # -- the callback ------------------------------------------------------------------------------
    def __call__(self, n: int) -> None:
        self.done += int(n)
        if self._bar is not None:
            self._bar.update(self._task, completed=self.done, total=self.total)

    def set_total(self, total: int | None) -> None:
        self.total = total if total is None else max(int(total), 0)
        if self._bar is not None:
            self._bar.update(self._task, total=self.total)

    # -- the bar -------------------------------------------------------------------------------------
    def __enter__(self) -> Progress:
        if self.enabled:
            self._start()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None,
                 tb: TracebackType | None) -> None:
        if self._bar is not None:
            self._bar.stop()
            self._bar = None

    def _start(self) -> None:
        from rich.console import Console
        from rich.progress import (BarColumn, DownloadColumn, MofNCompleteColumn, Progress as Bar, TextColumn,
                                   TimeElapsedColumn, TimeRemainingColumn, TransferSpeedColumn)

        if self.unit == "bytes":
            counts = [DownloadColumn(), TransferSpeedColumn()]
        else:
            counts = [MofNCompleteColumn(), _RateColumn(self.unit)]
        self._bar = Bar(TextColumn("{task.description}"), BarColumn(), *counts, TextColumn("eta"),
                        TimeRemainingColumn(), TextColumn("elapsed"), TimeElapsedColumn(),
                        console=Console(file=sys.stderr), transient=True, refresh_per_second=8)
        self._task = self._bar.add_task(self.label, total=self.total, completed=self.done)
        self._bar.start()

    # -- what to say -------------------------------------------------------------------------------
    def amount(self) -> str:
        """'1,200 of 2,730 records' (or '12.5 MB' for bytes)."""
        if self.unit == "bytes":
            done = human_bytes(self.done)
            return f"{done} of {human_bytes(self.total)}" if self.total else done
        of = f" of {self.total:,}" if self.total is not None else ""
        return f"{self.done:,}{of} {self.unit}"

    def rate(self) -> float:
        seconds = time.monotonic() - self.started
        return self.done / seconds if seconds > 0 else 0.0


def _rate_column_class() -> type:
    from rich.progress import ProgressColumn
    from rich.text import Text

    class RateColumn(ProgressColumn):
        def __init__(self, unit: str) -> None:
            super().__init__()
            self.unit = unit

        def render(self, task: Any) -> Text:
            speed = task.finished_speed or task.speed
            return Text("" if speed is None else f"{speed:,.0f} {self.unit}/s")

    return RateColumn


def _RateColumn(unit: str) -> Any:  # noqa: N802  a class made on first use, so rich loads lazily
    return _rate_column_class()(unit)


def _stderr_is_a_terminal() -> bool:
    try:
        return sys.stderr.isatty()
    except (AttributeError, ValueError):
        return False
