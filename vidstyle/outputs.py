"""Atomic outputs: nothing appears at the destination until it is complete."""
from __future__ import annotations

import contextlib
import os
import tempfile
from pathlib import Path
from typing import Iterator

from .errors import OutputError


def check_destination(dest: Path, *, overwrite: bool, inputs: tuple[Path, ...] = ()) -> None:
    """Refuse a destination that is an input, exists (unless ``overwrite``) or cannot be written."""
    for src in inputs:
        if dest.exists() and src.exists() and os.path.samefile(dest, src) or dest.resolve() == src.resolve():
            raise OutputError(f"{dest} is an input file: choose another output path")
    if dest.is_dir():
        raise OutputError(f"{dest} is a folder: give a file name")
    if dest.exists() and not overwrite:
        raise OutputError(f"{dest} already exists: use -y/--overwrite to replace it")
    parent = dest.parent if str(dest.parent) else Path(".")
    if not parent.is_dir():
        raise OutputError(f"cannot write {dest}: folder {parent} does not exist")
    if not os.access(parent, os.W_OK):
        raise OutputError(f"cannot write {dest}: folder {parent} is not writable")


@contextlib.contextmanager
def atomic_path(dest: Path, *, overwrite: bool = False, inputs: tuple[Path, ...] = ()) -> Iterator[Path]:
    """Yield a temporary path beside ``dest``; rename it onto ``dest`` only if the block succeeds.

    On any exception (KeyboardInterrupt and a full disk included) the temporary
    file is removed and ``dest`` is left as it was.
    """
    dest = Path(dest)
    check_destination(dest, overwrite=overwrite, inputs=inputs)
    parent = dest.parent if str(dest.parent) else Path(".")
    try:
        fd, tmp_name = tempfile.mkstemp(prefix=f".{dest.stem}.partial-", suffix=dest.suffix, dir=parent)
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {exc.strerror}") from None
    os.close(fd)
    tmp = Path(tmp_name)
    try:
        yield tmp
        if not overwrite and dest.exists():
            raise OutputError(f"{dest} appeared while rendering: use -y/--overwrite to replace it")
        os.replace(tmp, dest)
    except OSError as exc:
        raise OutputError(f"cannot write {dest}: {exc.strerror or exc}") from None
    finally:
        with contextlib.suppress(FileNotFoundError):
            tmp.unlink()
