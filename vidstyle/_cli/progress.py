"""The one progress bar of the CLI: frames done of a total, with the rate and a note."""
from __future__ import annotations

import threading

from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn, TimeRemainingColumn

from . import stderr


class FrameProgress:
    """A rich bar of frames, shown from the first update so that an early error stays one clean line.

    Use as a context manager; :meth:`update` may be called from any thread
    (the render's writer thread calls it). ``quiet`` shows nothing.
    """

    def __init__(self, description: str, *, quiet: bool = False) -> None:
        self.quiet = quiet
        self._bar = Progress(
            TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
            TextColumn("{task.fields[fps]:.1f} fps"), TextColumn("{task.fields[note]}"),
            TimeElapsedColumn(), TimeRemainingColumn(), console=stderr, transient=False,
        )
        self._task = self._bar.add_task(description, total=None, fps=0.0, note="", start=False)
        self._started = threading.Event()

    def __enter__(self) -> FrameProgress:
        return self

    def __exit__(self, *exc: object) -> None:
        self._bar.stop()

    def update(self, done: int, total: int | None, note: str = "") -> None:
        if self.quiet:
            return
        if not self._started.is_set():
            self._started.set()
            self._bar.start()
            self._bar.start_task(self._task)
        elapsed = self._bar.tasks[self._task].elapsed or 0.0
        self._bar.update(self._task, completed=done, total=total, fps=done / elapsed if elapsed else 0.0, note=note)

    def frames(self, done: int, total: int | None) -> None:
        """``update`` without a note: the ``on_progress`` of a render."""
        self.update(done, total)
