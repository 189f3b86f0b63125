"""Time codes and frame ranges: where a time or a range falls on a video's frames, exactly.

Times are read from seconds or timecodes (:func:`parse_time`) and written back
as ``HH:MM:SS.mmm`` (:func:`format_timecode`); :func:`resolve_range` turns a
:class:`~vidstyle.settings.Span` into a :class:`FrameRange` of exact frames,
using the frames' own timestamps (right for variable frame rate too).
"""
from __future__ import annotations

import bisect
import re
from dataclasses import dataclass
from fractions import Fraction

from ..errors import SettingsError
from ..settings import Span
from .probe import VideoInfo, frame_timestamps

__all__ = ["parse_time", "format_timecode", "format_smpte", "parse_frame_range", "FrameRange", "whole_range", "resolve_range"]

_CLOCK = re.compile(r"^(?:(\d+):)?(\d+):(\d+(?:\.\d*)?)$")
_SMPTE = re.compile(r"^(\d+):(\d+):(\d+)[:;](\d+)$")


def parse_time(text: str | float | int, fps: Fraction | None = None) -> Fraction:
    """Parse a time given as seconds or a timecode into exact seconds.

    Accepted: ``"62.5"``, ``"1:02.5"`` (MM:SS), ``"00:01:02.5"`` (HH:MM:SS.sss)
    and SMPTE ``"HH:MM:SS:FF"``. SMPTE frames count at the nominal rate
    (30 for 29.97), as non-drop timecode does, then become seconds at ``fps``.

    >>> parse_time("00:01:02.5")
    Fraction(125, 2)
    >>> parse_time("00:00:01:12", Fraction(24))
    Fraction(3, 2)
    """
    if isinstance(text, (int, float, Fraction)):
        value = Fraction(text)
    else:
        s = str(text).strip()
        smpte = _SMPTE.match(s)
        clock = _CLOCK.match(s)
        if smpte:
            if fps is None:
                raise SettingsError(f"timecode {s!r} counts frames: the frame rate is needed to read it")
            if ";" in s:
                raise SettingsError(f"drop-frame timecode {s!r} is not supported; give seconds or HH:MM:SS.sss")
            h, m, sec, ff = (int(g) for g in smpte.groups())
            nominal = max(1, round(fps))
            if ff >= nominal or m >= 60 or sec >= 60:
                raise SettingsError(f"timecode {s!r} is out of range (frames must be < {nominal})")
            value = Fraction((h * 3600 + m * 60 + sec) * nominal + ff) / fps
        elif clock:
            h, m, sec = clock.groups()
            if int(m) >= 60 and h is not None or float(sec) >= 60:
                raise SettingsError(f"time {s!r} is out of range (minutes and seconds must be < 60)")
            value = int(h or 0) * 3600 + int(m) * 60 + Fraction(sec)
        else:
            try:
                value = Fraction(s)
            except (ValueError, ZeroDivisionError):
                raise SettingsError(
                    f"cannot read time {s!r}: give seconds (62.5), HH:MM:SS.sss or HH:MM:SS:FF"
                ) from None
    if value < 0:
        raise SettingsError(f"time {text!r} is negative")
    return value


def format_timecode(seconds: float) -> str:
    """Seconds as ``HH:MM:SS.mmm`` (what :func:`parse_time` reads back).

    >>> format_timecode(3725.5)
    '01:02:05.500'
    """
    ms = round(max(0.0, seconds) * 1000)
    h, rest = divmod(ms, 3_600_000)
    m, rest = divmod(rest, 60_000)
    s, ms = divmod(rest, 1000)
    return f"{h:02d}:{m:02d}:{s:02d}.{ms:03d}"


def format_smpte(frame: int, fps: Fraction | float) -> str:
    """Frame ``frame`` (from 0) as a non-drop SMPTE timecode ``HH:MM:SS:FF`` at the nominal rate (30 for 29.97).

    What :func:`parse_time` reads back with the same rate.

    >>> format_smpte(1012, Fraction(24)), format_smpte(1800, Fraction(30000, 1001))
    ('00:00:42:04', '00:01:00:00')
    """
    nominal = max(1, round(Fraction(fps)))
    seconds, ff = divmod(max(0, int(frame)), nominal)
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h:02d}:{m:02d}:{s:02d}:{ff:02d}"


def parse_frame_range(text: str) -> tuple[int, int]:
    """Parse ``"A:B"`` (half-open frame indices) into ``(A, B)``.

    >>> parse_frame_range("10:20")
    (10, 20)
    """
    m = re.match(r"^\s*(\d+)\s*:\s*(\d+)\s*$", str(text))
    if not m:
        raise SettingsError(f"cannot read frame range {text!r}: write it as A:B, e.g. 0:120", settings="frames")
    a, b = int(m.group(1)), int(m.group(2))
    if b <= a:
        raise SettingsError(f"frame range {text!r} is empty: B must be greater than A", settings="frames")
    return a, b


@dataclass(frozen=True)
class FrameRange:
    """Frames ``[first, stop)`` of a video, with where they sit in time.

    ``first_pts``/``stop_pts`` are in the video stream's time base (``stop_pts``
    is None when the range runs to the end). ``count`` is None only for a whole
    video whose length the container doesn't state exactly.
    """

    first: int
    stop: int | None
    first_pts: int | None
    stop_pts: int | None
    time_base: Fraction
    whole: bool

    @property
    def count(self) -> int | None:
        return None if self.stop is None else self.stop - self.first

    @property
    def start_seconds(self) -> Fraction:
        """Absolute stream time of the first frame (where audio slicing starts)."""
        return Fraction(self.first_pts or 0) * self.time_base

    @property
    def stop_seconds(self) -> Fraction | None:
        return None if self.stop_pts is None else Fraction(self.stop_pts) * self.time_base


def whole_range(info: VideoInfo) -> FrameRange:
    return FrameRange(
        first=0,
        stop=info.frame_count if info.frame_count_exact else None,
        first_pts=info.start_pts,
        stop_pts=None,
        time_base=info.time_base,
        whole=True,
    )


def resolve_range(info: VideoInfo, span: Span = Span()) -> tuple[FrameRange, list[int]]:
    """Place a :class:`~vidstyle.settings.Span` on the video's frames exactly.

    Times count from the first frame (0 s) and select the frames whose time
    lies in ``[start, end)``. An ``end`` past the last frame means "to the end".
    A demux-only pass lists every packet's timestamp, so indices are exact even
    for variable frame rate.

    Returns:
        The :class:`FrameRange` and the sorted presentation timestamps of all
        frames (empty for a whole-video range, which needs no index).
    """
    if span.whole:
        return whole_range(info), []

    all_pts = frame_timestamps(info)
    n = len(all_pts)

    if span.frames is not None:
        frames = span.frames
        a, b = parse_frame_range(frames) if isinstance(frames, str) else (int(frames[0]), int(frames[1]))
        if a < 0 or b <= a:
            raise SettingsError(f"frame range {a}:{b} is empty: B must be greater than A >= 0", settings="frames")
        if a >= n:
            raise SettingsError(f"frame range {a}:{b} starts past the end: the video has {n} frames",
                                settings="frames")
        b = min(b, n)
    else:
        tb = info.time_base
        origin = all_pts[0]
        times = [(p - origin) * tb for p in all_pts]
        t0 = _time_setting(span.start, info, "start") if span.start is not None else Fraction(0)
        t1 = _time_setting(span.end, info, "end") if span.end is not None else None
        if t1 is not None and t1 <= t0:
            raise SettingsError(f"end ({float(t1):.3f} s) must be after start ({float(t0):.3f} s)",
                                settings=("start", "end"))
        a = bisect.bisect_left(times, t0)
        b = n if t1 is None else bisect.bisect_left(times, t1)
        if a >= n or b <= a:
            last = float(times[-1])
            raise SettingsError(
                f"the range {float(t0):.3f}-{'end' if t1 is None else f'{float(t1):.3f}'} s holds no frame "
                f"(the last frame is at {last:.3f} s)", settings=("start", "end"),
            )
    whole = a == 0 and b == n
    return (
        FrameRange(
            first=a,
            stop=b,
            first_pts=all_pts[a],
            stop_pts=all_pts[b] if b < n else None,
            time_base=info.time_base,
            whole=whole,
        ),
        all_pts,
    )



def _time_setting(value: str | float, info: VideoInfo, name: str) -> Fraction:
    try:
        return parse_time(value, info.fps)
    except SettingsError as exc:
        raise SettingsError(f"{name}: {exc}", settings=name) from None
