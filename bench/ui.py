"""Progress display: one line per benchmark step, with a bar for the timed ones."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager

from rich.console import Console
from rich.progress import BarColumn, Progress, SpinnerColumn, TextColumn, TimeElapsedColumn

Tick = Callable[[float], None]


def make_progress(console: Console) -> Progress:
    """Return the progress display the benchmark steps are shown in."""
    return Progress(SpinnerColumn(finished_text="[green]✓"), TextColumn("{task.description}"), BarColumn(),
                    TimeElapsedColumn(), console=console, refresh_per_second=4, transient=False)


@contextmanager
def step(progress: Progress, description: str, seconds: float | None = None) -> Iterator[Tick]:
    """Show one step; yield tick(elapsed_seconds) that moves its bar (seconds=None: no bar, a spinner)."""
    task = progress.add_task(description, total=seconds)

    def tick(elapsed: float) -> None:
        """Move the bar to elapsed seconds."""
        if seconds:
            progress.update(task, completed=min(elapsed, seconds))

    try:
        yield tick
    except BaseException:
        progress.update(task, description=f"{description} [red](failed)")
        progress.stop_task(task)
        raise
    progress.update(task, total=seconds or 1, completed=seconds or 1)
