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

__all__ = ["file_sha256", "files_digest", "content_digest", "InputIdentity"]

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


def content_digest(path: str | os.PathLike[str]) -> str:
    """What says a settings file is unchanged: its sha256, or for an image sequence (a mask sequence)
    the hash of its :class:`InputIdentity` (every frame's name, size and time, and its ends).
    """
    path = Path(path)
    if "%" in path.name or "#" in path.name:
        from .video.sequence import is_sequence_path

        if is_sequence_path(path):
            return InputIdentity.of(path).sha256_ends
    return file_sha256(path)


def files_digest(paths: "list[Path]") -> tuple[int, str]:
    """Total size and one sha256 of several files in order (the frames of an image sequence).

    The sha256 is of each file's name and sha256, one line each, so a frame
    renamed, replaced or missing changes it.

    Raises:
        InputError: a file is missing or cannot be read.
    """
    h = hashlib.sha256()
    size = 0
    for p in map(Path, paths):
        try:
            size += p.stat().st_size
        except OSError as exc:
            raise _read_error(p, exc) from None
        h.update(f"{p.name} {file_sha256(p)}\n".encode())
    return size, h.hexdigest()


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
        """Raises InputError when the file is missing or unreadable.

        For a numbered image sequence (``plate.%04d.exr``): the total size, the
        newest modification time, and a sha256 of every frame's name, size and
        time with the first MiB of its first and last frames.
        """
        path = Path(path)
        if "%" in path.name or "#" in path.name:
            from .video.sequence import is_sequence_path  # PyAV only for sequences: weights need none

            if is_sequence_path(path):
                return cls._of_sequence(path)
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

    @classmethod
    def _of_sequence(cls, path: Path) -> InputIdentity:
        from .video.sequence import parse_pattern, scan_sequence

        pattern = parse_pattern(path)
        first, count = scan_sequence(pattern)
        h = hashlib.sha256()
        size = mtime = 0
        try:
            for n in range(first, first + count):
                st = pattern.path(n).stat()
                size += st.st_size
                mtime = max(mtime, st.st_mtime_ns)
                h.update(f"{pattern.name(n)}:{st.st_size}:{st.st_mtime_ns}\n".encode())
            for n in dict.fromkeys((first, first + count - 1)):
                with pattern.path(n).open("rb") as f:
                    _update(h, f, _BLOCK)
        except OSError as exc:
            raise _read_error(pattern.path(n), exc) from None
        return cls(size=size, mtime_ns=mtime, sha256_ends=h.hexdigest())
