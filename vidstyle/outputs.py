"""Atomic outputs: nothing appears at the destination until it is complete.

The one place that decides whether a destination may be written, that
creates the temporary file beside it, and that names an output by default;
the image writer, the style writer and the video writer all go through here.
"""
from __future__ import annotations

import contextlib
import os
import secrets
from pathlib import Path
from typing import Iterator

from .errors import OutputError


def same_file(a: Path, b: Path) -> bool:
    """True if ``a`` and ``b`` name one file (links and relative paths included)."""
    try:
        if a.exists() and b.exists() and os.path.samefile(a, b):
            return True
    except OSError:
        pass
    return a.resolve() == b.resolve()


def default_output(input: str | os.PathLike[str], extension: str, suffix: str = "_styled") -> Path:
    """Where an output of ``input`` goes when none is named: ``<stem><suffix><extension>`` beside it.

    Never the input itself: where the name would be the input's, ``_styled`` is added.

    >>> default_output("shots/walk.mov", ".mp4"), default_output("art/a.jpg", ".style", "")
    (PosixPath('shots/walk_styled.mp4'), PosixPath('art/a.style'))
    """
    src = Path(input)
    out = src.with_name(f"{src.stem}{suffix}{extension}")
    if out == src:
        out = src.with_name(f"{src.stem}{suffix}_styled{extension}")
    return out


def check_destination(dest: Path, *, overwrite: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse a destination that is an input, exists (unless ``overwrite``) or cannot be written."""
    dest = Path(dest)
    for src in inputs:
        if same_file(dest, Path(src)):
            raise OutputError(f"the output {dest} is the input itself; choose another output", settings="output")
    parent = dest.parent
    if not parent.exists():
        raise OutputError(f"cannot write {dest}: folder {parent} does not exist", settings="output")
    if not parent.is_dir():
        raise OutputError(f"cannot write {dest}: {parent} is not a folder", settings="output")
    if dest.is_dir():
        raise OutputError(f"cannot write {dest}: it is a folder", settings="output")
    if dest.exists() and not overwrite:
        raise OutputError(f"{dest} already exists; allow overwriting to replace it", settings="overwrite")


def temporary_beside(dest: Path) -> Path:
    """Create an empty hidden file next to ``dest`` (``.name.partial-XXXX.ext``) and return its path."""
    dest = Path(dest)
    for _ in range(8):
        tmp = dest.with_name(f".{dest.stem}.partial-{secrets.token_hex(4)}{dest.suffix}")
        try:
            # O_EXCL: never clobber anything; the mode goes through umask like any
            # file the user creates, so the final output has normal permissions.
            os.close(os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return tmp
        except FileExistsError:
            continue
        except OSError as exc:
            raise OutputError(f"cannot write into {dest.parent}: {exc.strerror}") from exc
    raise OutputError(f"cannot create a temporary file in {dest.parent}")


def commit(tmp: Path, dest: Path, *, overwrite: bool) -> None:
    """Move a finished temporary file onto ``dest``."""
    if dest.exists() and not overwrite:
        raise OutputError(f"{dest} appeared while rendering; allow overwriting to replace it", settings="overwrite")
    os.replace(tmp, dest)


@contextlib.contextmanager
def atomic_path(dest: Path, *, overwrite: bool = False, inputs: tuple[Path, ...] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` only if the block succeeds.

    On any exception (KeyboardInterrupt and a full disk included) the temporary
    file is removed and ``dest`` is left as it was.
    """
    dest = Path(dest)
    check_destination(dest, overwrite=overwrite, inputs=inputs)
    tmp = temporary_beside(dest)
    try:
        yield tmp
        commit(tmp, dest, overwrite=overwrite)
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
