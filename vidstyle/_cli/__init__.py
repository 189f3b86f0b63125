"""The command line: parses options, calls the public API, renders with rich.

Every library error is a VidstyleError; here it becomes one line on stderr
and the error's exit code. The library words its messages in its own terms
and names the settings a fix is about; this layer adds the flags that set
them. Nothing else in vidstyle prints or exits.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Callable, NoReturn

import click
from rich.console import Console
from rich.markup import escape

from ..errors import OutOfMemoryError, VidstyleError

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int) -> NoReturn:
    stderr.print(f"[bold red]error:[/] {escape(message)}", markup=True, emoji=False)
    sys.exit(code)


def flags_for(settings: tuple[str, ...]) -> str:
    """`` (option --size)``: the current command's flags for the library's setting names, if it has them."""
    ctx = click.get_current_context(silent=True)
    if ctx is None or not settings:
        return ""
    opts: dict[str, str] = {}
    for param in ctx.command.params:
        if isinstance(param, click.Option) and param.name not in opts:
            opts[param.name] = "/".join(param.opts)
    found = list(dict.fromkeys(opts[s] for s in settings if s in opts))
    if not found:
        return ""
    return f" (option{'s' if len(found) > 1 else ''} {', '.join(found)})"


def handle_errors(fn: Callable) -> Callable:
    """Map library errors to one stderr line + exit code; never show a traceback for bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VidstyleError as exc:
            fail(f"{exc}{flags_for(exc.settings)}", exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted; nothing was written", 130)
        except MemoryError:
            oom = OutOfMemoryError("out of memory: lower the batch or the working size", settings=("batch", "size"))
            fail(f"{oom}{flags_for(oom.settings)}", oom.exit_code)
        except Exception as exc:  # a bug of ours: one line, the traceback on request
            if os.environ.get("VIDSTYLE_DEBUG"):
                raise
            fail(f"internal error: {exc.__class__.__name__}: {exc} (set VIDSTYLE_DEBUG=1 for the traceback)", 70)

    return wrapper


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vidstyle")
def main() -> None:
    """vidstyle: restyle images and whole videos after any painting (AdaIN)."""


def warn(message: str) -> None:
    stderr.print(f"[yellow]warning:[/] {escape(message)}", markup=True, emoji=False)


def note(message: str) -> None:
    stderr.print(f"[cyan]note:[/] {escape(message)}", markup=True, emoji=False)


def _register() -> None:
    from . import farm, image, preview, run, shots, timeline

    for command in (run.run, image.image, image.style, timeline.timeline, shots.shots, farm.farm, preview.preview):
        main.add_command(command)


_register()
