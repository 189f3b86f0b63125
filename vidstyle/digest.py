"""What says a file is still the one we saw: its sha256, or a quick identity of a big one.

Weight files, farm plans (style, mask and timeline files, chunks, outputs) and
the shot-list cache all ask this question; they ask it here. Imports nothing
heavier than the standard library.
"""
from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import BinaryIO

from .errors import InputError

__all__ = ["file_sha256", "InputIdentity"]

_BLOCK = 1 << 20


def _read_error(path: Path, exc: OSError) -> InputError:
    if isinstance(exc, FileNotFoundError):
        return InputError(f"{path}: no such file")
    if isinstance(exc, IsADirectoryError):
        return InputError(f"{path} is a folder, not a file")
    return InputError(f"cannot read {path}: {exc.strerror or exc}")


def _update(h: "hashlib._Hash", f: BinaryIO, limit: int | None = None) -> None:
    left = limit
    while left is None or left > 0:
        block = f.read(_BLOCK if left is None else min(_BLOCK, left))
        if not block:
            return
        h.update(block)
        if left is not None:
            left -= len(block)


def file_sha256(path: str | os.PathLike[str]) -> str:
    """The sha256 of a whole file, as hex, read in 1 MiB blocks (memory stays flat).

    Raises:
        InputError: the file is missing or cannot be read.
    """
    path = Path(path)
    h = hashlib.sha256()
    try:
        with path.open("rb") as f:
            _update(h, f)
    except OSError as exc:
        raise _read_error(path, exc) from None
    return h.hexdigest()


@dataclass(frozen=True)
class InputIdentity:
    """A cheap identity of a (video) file: enough to tell it was edited or replaced.

    Size and modification time catch an edited or replaced file; the sha256 of
    its first and last MiB catches one replaced with the same size and time,
    without reading gigabytes.
    """

    size: int
    mtime_ns: int
    sha256_ends: str

    @classmethod
    def of(cls, path: str | os.PathLike[str]) -> InputIdentity:
        """Raises InputError when the file is missing or unreadable."""
        path = Path(path)
        h = hashlib.sha256()
        try:
            st = path.stat()
            with path.open("rb") as f:
                _update(h, f, _BLOCK)
                if st.st_size > 2 * _BLOCK:
                    f.seek(-_BLOCK, os.SEEK_END)
                    _update(h, f, _BLOCK)
        except OSError as exc:
            raise _read_error(path, exc) from None
        return cls(size=st.st_size, mtime_ns=st.st_mtime_ns, sha256_ends=h.hexdigest())
