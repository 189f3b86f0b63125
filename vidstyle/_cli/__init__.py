"""The command line: parses options, calls the public API, renders with rich.

Every library error is a VidstyleError; here it becomes one line on stderr
and the error's exit code. Nothing else in vidstyle prints or exits.
"""
from __future__ import annotations

import functools
import os
import sys
from typing import Callable

import click
from rich.console import Console

from ..errors import VidstyleError

stderr = Console(stderr=True, highlight=False, soft_wrap=True)


def fail(message: str, code: int) -> "NoReturn":  # noqa: F821
    stderr.print(f"[bold red]error:[/] {message}", markup=True)
    sys.exit(code)


def handle_errors(fn: Callable) -> Callable:
    """Map library errors to one stderr line + exit code; never show a traceback for bad input."""

    @functools.wraps(fn)
    def wrapper(*args, **kwargs):
        try:
            return fn(*args, **kwargs)
        except VidstyleError as exc:
            fail(str(exc), exc.exit_code)
        except KeyboardInterrupt:
            fail("interrupted; nothing was written", 130)
        except MemoryError:
            fail("out of memory: lower --size or --batch", 6)
        except Exception as exc:  # a bug of ours: one line, the traceback on request
            if os.environ.get("VIDSTYLE_DEBUG"):
                raise
            fail(f"internal error: {exc.__class__.__name__}: {exc} (set VIDSTYLE_DEBUG=1 for the traceback)", 70)

    return wrapper


def parse_weights(text: str | None) -> list[float] | None:
    if text is None:
        return None
    try:
        return [float(x) for x in text.split(",")]
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of numbers, e.g. 0.7,0.3", param_hint="--style-weights") from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(package_name="vidstyle")
def main() -> None:
    """vidstyle: restyle images and whole videos after any painting (AdaIN)."""


def _register() -> None:
    from . import image, run, timeline

    main.add_command(image.image)
    main.add_command(timeline.timeline)
    main.add_command(image.style)
    from . import shots

    main.add_command(shots.shots)
    if hasattr(run, "run"):
        main.add_command(run.run)
    from . import farm

    main.add_command(farm.farm)


_register()
