"""Video files in and out: the only module that opens a video container.

Three things live here, in the order a render meets them:

- :func:`probe` reads what a video is (size, rate, time base, rotation, colour,
  audio) into a frozen :class:`VideoInfo`, or says in one line why it can't.
- :class:`FrameReader` decodes a whole video or an exact frame range into
  :class:`FrameBatch` es: float RGB ``(B, 3, H, W)`` in [0, 1]. This is the one
  place decoded pixels become tensors (:func:`frames_to_tensor`).
- :class:`FrameWriter` encodes batches back (:func:`tensor_to_frames` is the one
  way back to ``uint8``), keeps every frame's timestamp, stream-copies the
  audio for the rendered range, and only renames its temporary file onto the
  destination once the frame count is verified.

Frames are streamed one batch at a time: memory stays flat whatever the length.
"""
from __future__ import annotations

import bisect
import errno
import os
import re
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
import torch

from vidstyle.errors import InputError, OutputError, RenderError, SettingsError
from vidstyle.outputs import check_destination, commit, temporary_beside

__all__ = [
    "AudioStreamInfo",
    "ColorInfo",
    "VideoInfo",
    "FrameRange",
    "FrameBatch",
    "FrameReader",
    "FrameWriter",
    "probe",
    "parse_time",
    "parse_frame_range",
    "resolve_range",
    "default_output_path",
    "frames_to_tensor",
    "tensor_to_frames",
    "available_codecs",
    "ChunkFile",
    "ChunkScan",
    "scan_chunk",
    "join_chunks",
]


# --------------------------------------------------------------------------- #
# What a video is
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class AudioStreamInfo:
    """One audio stream of the input, as the writer will copy it."""

    index: int  # stream index in the container
    codec: str
    sample_rate: int
    channels: int
    layout: str
    language: str | None


@dataclass(frozen=True)
class ColorInfo:
    """Colour metadata as FFmpeg enum values (0 or 2 mean "unspecified")."""

    color_range: int = 0
    color_primaries: int = 2
    color_trc: int = 2
    colorspace: int = 2


@dataclass(frozen=True)
class VideoInfo:
    """What :func:`probe` learned about a video file.

    ``frame_count`` is exact when ``frame_count_exact`` (the container said, or
    the packets were counted), else estimated from duration x rate.
    ``start_pts`` is the presentation timestamp of the first frame; frame times
    are measured from it, so the first frame is at 0 s.
    """

    path: Path
    container: str
    codec: str
    pix_fmt: str
    width: int
    height: int
    fps: Fraction
    time_base: Fraction
    start_pts: int | None
    frame_count: int
    frame_count_exact: bool
    duration: float
    rotation: int
    sample_aspect_ratio: Fraction | None
    color: ColorInfo
    bit_depth: int
    audio: tuple[AudioStreamInfo, ...] = ()
    has_subtitles: bool = False
    has_data: bool = False


def _open_input(path: Path) -> av.container.InputContainer:
    """Open ``path`` for demuxing, turning every failure into one InputError."""
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_dir():
        raise InputError(f"{path} is a folder, not a video file")
    try:
        return av.open(str(path), mode="r")
    except av.error.FFmpegError as exc:
        raise InputError(
            f"{path} is not a video FFmpeg can read ({exc.strerror or exc}); "
            "is it complete, and is it really a video?"
        ) from exc


def _video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    # Cover art in an audio file is a "video" stream of one attached picture:
    # that is not a video we can restyle.
    streams = [
        s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)
    ]
    if not streams:
        raise InputError(f"{path} has no video stream (is it an audio file or an image?)")
    return streams[0]


def _count_packets(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> list[int | None]:
    """Presentation timestamps of every video packet, in file order (a demux-only pass)."""
    pts: list[int | None] = []
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:
            continue
        pts.append(packet.pts)
    return pts


def probe(path: str | os.PathLike[str]) -> VideoInfo:
    """Read a video's properties without decoding more than its first frame.

    Args:
        path: the video file.

    Returns:
        A :class:`VideoInfo`.

    Raises:
        InputError: the file is missing, not a video, has no video stream, or
            has no frame that decodes.
    """
    path = Path(path)
    with _open_input(path) as container:
        stream = _video_stream(container, path)
        ctx = stream.codec_context
        tb = stream.time_base or Fraction(1, 1000)
        fps = stream.average_rate or stream.guessed_rate or stream.base_rate
        if not fps or fps <= 0:
            fps = Fraction(25)  # nothing in the file says; only used for estimates
        fps = Fraction(fps)

        if stream.duration:
            duration = float(stream.duration * tb)
        elif container.duration:
            duration = container.duration / av.time_base
        else:
            duration = 0.0

        exact = stream.frames > 0
        count = stream.frames if exact else round(duration * fps)
        if count <= 0:
            # Neither a frame count nor a duration: count packets (no decoding).
            count = len(_count_packets(container, stream))
            exact = True
            container.seek(0)
        if exact and count == 0:
            raise InputError(f"{path} has a video stream but no frames")

        first = _first_frame(container, stream, path)
        if not duration:
            duration = float(count / fps)
        color = ColorInfo(
            color_range=int(first.color_range or ctx.color_range or 0),
            color_primaries=int(first.color_primaries or ctx.color_primaries or 2),
            color_trc=int(first.color_trc or ctx.color_trc or 2),
            colorspace=int(first.colorspace or ctx.colorspace or 2),
        )
        fmt = first.format
        bit_depth = max((c.bits for c in fmt.components), default=8)

        audio = tuple(
            AudioStreamInfo(
                index=a.index,
                codec=a.codec_context.name,
                sample_rate=a.codec_context.sample_rate,
                channels=a.codec_context.channels,
                layout=a.codec_context.layout.name,
                language=a.language,
            )
            for a in container.streams.audio
        )
        sar = stream.sample_aspect_ratio
        return VideoInfo(
            path=path,
            container=container.format.name,
            codec=ctx.name,
            pix_fmt=fmt.name,
            width=first.width,
            height=first.height,
            fps=fps,
            time_base=Fraction(tb),
            start_pts=first.pts,
            frame_count=count,
            frame_count_exact=exact,
            duration=duration,
            rotation=int(first.rotation or 0),
            sample_aspect_ratio=Fraction(sar) if sar else None,
            color=color,
            bit_depth=bit_depth,
            audio=audio,
            has_subtitles=bool(container.streams.subtitles),
            has_data=bool(container.streams.data),
        )


def _first_frame(container, stream, path: Path) -> av.VideoFrame:
    try:
        for frame in container.decode(stream):
            return frame
    except av.error.FFmpegError as exc:
        raise InputError(f"{path}: the first frame does not decode ({exc}); the file may be damaged") from exc
    raise InputError(f"{path} has a video stream but no frame decodes (empty or truncated file)")


# --------------------------------------------------------------------------- #
# Ranges
# --------------------------------------------------------------------------- #

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


def parse_frame_range(text: str) -> tuple[int, int]:
    """Parse ``"A:B"`` (half-open frame indices) into ``(A, B)``.

    >>> parse_frame_range("10:20")
    (10, 20)
    """
    m = re.match(r"^\s*(\d+)\s*:\s*(\d+)\s*$", str(text))
    if not m:
        raise SettingsError(f"cannot read frame range {text!r}: write it as A:B, e.g. 0:120")
    a, b = int(m.group(1)), int(m.group(2))
    if b <= a:
        raise SettingsError(f"frame range {text!r} is empty: B must be greater than A")
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


def _whole_range(info: VideoInfo) -> FrameRange:
    return FrameRange(
        first=0,
        stop=info.frame_count if info.frame_count_exact else None,
        first_pts=info.start_pts,
        stop_pts=None,
        time_base=info.time_base,
        whole=True,
    )


def resolve_range(
    info: VideoInfo,
    start: str | float | None = None,
    end: str | float | None = None,
    frames: tuple[int, int] | str | None = None,
) -> tuple[FrameRange, list[int]]:
    """Turn ``start``/``end`` (seconds or timecodes) or ``frames=(A, B)`` into exact frames.

    Times count from the first frame (0 s) and select the frames whose time
    lies in ``[start, end)``. An ``end`` past the last frame means "to the end".
    A demux-only pass lists every packet's timestamp, so indices are exact even
    for variable frame rate.

    Returns:
        The :class:`FrameRange` and the sorted presentation timestamps of all
        frames (empty for a whole-video range, which needs no index).
    """
    if frames is not None and (start is not None or end is not None):
        raise SettingsError("give either a frame range or start/end times, not both")
    if frames is None and start is None and end is None:
        return _whole_range(info), []

    with _open_input(info.path) as container:
        stream = _video_stream(container, info.path)
        raw = _count_packets(container, stream)
    if any(p is None for p in raw):
        raise SettingsError(
            f"{info.path} has frames without timestamps, so a range cannot be cut exactly; "
            "render the whole video or re-encode it first"
        )
    all_pts = sorted(p for p in raw if p is not None)
    n = len(all_pts)
    if n == 0:
        raise InputError(f"{info.path} has a video stream but no frames")

    if frames is not None:
        a, b = parse_frame_range(frames) if isinstance(frames, str) else (int(frames[0]), int(frames[1]))
        if a < 0 or b <= a:
            raise SettingsError(f"frame range {a}:{b} is empty: B must be greater than A >= 0")
        if a >= n:
            raise SettingsError(f"frame range {a}:{b} starts past the end: the video has {n} frames")
        b = min(b, n)
    else:
        tb = info.time_base
        origin = all_pts[0]
        times = [(p - origin) * tb for p in all_pts]
        t0 = parse_time(start, info.fps) if start is not None else Fraction(0)
        t1 = parse_time(end, info.fps) if end is not None else None
        if t1 is not None and t1 <= t0:
            raise SettingsError(f"end ({float(t1):.3f} s) must be after start ({float(t0):.3f} s)")
        a = bisect.bisect_left(times, t0)
        b = n if t1 is None else bisect.bisect_left(times, t1)
        if a >= n or b <= a:
            last = float(times[-1])
            raise SettingsError(
                f"the range {float(t0):.3f}-{'end' if t1 is None else f'{float(t1):.3f}'} s holds no frame "
                f"(the last frame is at {last:.3f} s)"
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


# --------------------------------------------------------------------------- #
# The one conversion each way
# --------------------------------------------------------------------------- #


def frames_to_tensor(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack decoded ``(H, W, 3)`` uint8 or uint16 RGB arrays into float RGB.

    Shape:
        ``arrays``: B x ``(H, W, 3)`` -> ``(B, 3, H, W)`` float32 in [0, 1].
    """
    stacked = np.stack(arrays)
    scale = 65535.0 if stacked.dtype == np.uint16 else 255.0
    # uint16 has no torch kernels for most ops: widen before dividing.
    t = torch.from_numpy(stacked.astype(np.float32) if stacked.dtype == np.uint16 else stacked)
    return t.permute(0, 3, 1, 2).float().div_(scale).contiguous()


def tensor_to_frames(rgb: torch.Tensor) -> np.ndarray:
    """Float RGB in [0, 1] to ``uint8`` arrays for encoding, rounding to nearest.

    Shape:
        ``(B, 3, H, W)`` -> ``(B, H, W, 3)`` uint8.
    """
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise RenderError(f"frames to write must be (B, 3, H, W); got {tuple(rgb.shape)}")
    u8 = rgb.detach().to("cpu", torch.float32).clamp(0.0, 1.0).mul(255.0).round().to(torch.uint8)
    return u8.permute(0, 2, 3, 1).contiguous().numpy()


# --------------------------------------------------------------------------- #
# Reading
# --------------------------------------------------------------------------- #


@dataclass
class FrameBatch:
    """A run of consecutive frames on their way through the pipeline.

    ``times`` are seconds from the first frame of the video. ``pts`` are in the
    input stream's time base (None where the file gave none).

    Shape:
        ``rgb``: ``(B, 3, H, W)`` float32 in [0, 1].
    """

    indices: list[int]
    pts: list[int | None]
    times: list[float]
    rgb: torch.Tensor


class FrameReader:
    """Decode a video, or an exact range of it, into :class:`FrameBatch` es.

    Args:
        path: the video.
        start, end: seconds or timecodes (see :func:`parse_time`), half-open.
        frames: ``(A, B)`` half-open frame indices, or ``"A:B"``.
        scale_to: ``(width, height)`` to decode straight to (area-averaged by
            FFmpeg's scaler), for cheap analysis passes such as shot detection;
            None (the default) keeps the video's own size.

    Example:
        >>> with FrameReader("in.mp4", frames=(10, 20)) as reader:  # doctest: +SKIP
        ...     for batch in reader.iter_batches(4):
        ...         ...
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        start: str | float | None = None,
        end: str | float | None = None,
        frames: tuple[int, int] | str | None = None,
        info: VideoInfo | None = None,
        scale_to: tuple[int, int] | None = None,
    ) -> None:
        if scale_to is not None and (len(scale_to) != 2 or min(scale_to) < 1):
            raise SettingsError(f"scale_to must be (width, height) of at least 1 pixel, got {scale_to!r}")
        self.scale_to = None if scale_to is None else (int(scale_to[0]), int(scale_to[1]))
        self.info = info if info is not None else probe(path)
        self.range, all_pts = resolve_range(self.info, start, end, frames)
        self._pts_index = {p: i for i, p in enumerate(all_pts)}
        self._container: av.container.InputContainer | None = None
        self.frames_read = 0

    @property
    def expected_frames(self) -> int | None:
        """Frames to expect, for progress: exact for a cut range; for a whole video the
        container's count (AVI counts its empty "repeat" entries too), or None."""
        return self.range.count

    def __enter__(self) -> FrameReader:
        self._container = _open_input(self.info.path)
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        if self._container is not None:
            self._container.close()
            self._container = None

    def iter_batches(self, batch_size: int) -> Iterator[FrameBatch]:
        """Yield consecutive frames in batches of ``batch_size`` (the last may be shorter)."""
        if batch_size < 1:
            raise SettingsError(f"batch size must be at least 1, got {batch_size}")
        indices: list[int] = []
        pts: list[int | None] = []
        times: list[float] = []
        arrays: list[np.ndarray] = []
        for index, p, t, arr in self._iter_frames():
            indices.append(index)
            pts.append(p)
            times.append(t)
            arrays.append(arr)
            if len(arrays) == batch_size:
                yield FrameBatch(indices, pts, times, frames_to_tensor(arrays))
                indices, pts, times, arrays = [], [], [], []
        if arrays:
            yield FrameBatch(indices, pts, times, frames_to_tensor(arrays))

    def _iter_frames(self) -> Iterator[tuple[int, int | None, float, np.ndarray]]:
        if self._container is None:
            raise RuntimeError("FrameReader must be used as a context manager")
        rng = self.range
        seek = not rng.whole and rng.first > 0
        try:
            yield from self._decode(seek=seek)
        except _SeekOvershoot:
            # The index put the keyframe after our first frame (rare, broken
            # indexes): decode from the start instead of skipping frames.
            self.close()
            self._container = _open_input(self.info.path)
            yield from self._decode(seek=False)

    def _decode(self, seek: bool) -> Iterator[tuple[int, int | None, float, np.ndarray]]:
        container = self._container
        assert container is not None  # guarded by _iter_frames
        stream = _video_stream(container, self.info.path)
        stream.thread_type = "AUTO"  # frame + slice threads: decoding overlaps the model
        rng, info = self.range, self.info
        origin = info.start_pts or 0
        rgb_format = "rgb48le" if info.bit_depth > 8 else "rgb24"
        if seek:
            container.seek(rng.first_pts, stream=stream, backward=True, any_frame=False)

        counted = 0  # frames decoded (whole-video mode numbers frames by this)
        packets = 0  # non-empty packets demuxed: each should give one frame
        empty = 0  # AVI marks a repeated frame with an empty packet: no new frame
        yielded = 0
        first_seen = False
        packet = None
        for packet in container.demux(stream):
            if packet.size and not packet.is_discard:
                packets += 1
            elif packet.dts is not None or packet.pts is not None:
                empty += 1  # (the final flush packet has neither)
            try:
                decoded = stream.decode(packet)
            except av.error.FFmpegError as exc:
                at = "" if packet.pts is None else f" at {float((packet.pts - origin) * info.time_base):.3f} s"
                raise RenderError(
                    f"{info.path}: frame {rng.first + yielded if rng.whole else self._next_index(yielded)}"
                    f"{at} failed to decode ({exc}); the file is damaged"
                ) from exc
            for frame in decoded:
                if rng.whole:
                    index = counted
                    counted += 1
                else:
                    if frame.pts is None or frame.pts not in self._pts_index:
                        raise RenderError(
                            f"{info.path}: a decoded frame (pts {frame.pts}) matches no packet, so the "
                            "range cannot be cut exactly; render the whole video instead"
                        )
                    index = self._pts_index[frame.pts]
                    if not first_seen:
                        first_seen = True
                        if index > rng.first:
                            raise _SeekOvershoot
                    if index < rng.first:
                        continue  # decoded from the keyframe before the range: not ours
                    if rng.stop is not None and index >= rng.stop:
                        return
                if frame.pts is not None:
                    t = float((frame.pts - origin) * info.time_base)
                else:
                    t = float(index / info.fps)
                if self.scale_to is None:
                    arr = frame.to_ndarray(format=rgb_format, src_color_range=frame.color_range or None)
                else:
                    w, h = self.scale_to
                    arr = frame.to_ndarray(
                        format=rgb_format, width=w, height=h, interpolation="AREA",
                        src_color_range=frame.color_range or None,
                    )
                yielded += 1
                self.frames_read = yielded
                yield index, frame.pts, t, arr
        if rng.whole and counted < packets:
            # The decoder swallowed packets without giving frames: frames lost.
            raise RenderError(
                f"{info.path}: {packets} video packets but only {counted} frames decoded "
                f"(first loss at or after frame {counted}); the file is damaged"
            )
        expected = rng.count
        if rng.whole and expected is not None:
            expected -= empty
        if expected is not None and yielded != expected:
            raise RenderError(
                f"{info.path}: expected {expected} frames from frame {rng.first} but only {yielded} decoded; "
                "the file looks truncated or damaged"
            )

    def _next_index(self, yielded: int) -> int:
        return self.range.first + yielded


class _SeekOvershoot(Exception):
    """Internal: seeking landed after the first wanted frame."""


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class _CodecSpec:
    """How one encoder is set up: its container, pixel format and options."""

    encoder: str
    extension: str
    pix_fmt: str
    crf_max: int | None  # None: the codec has no CRF (ProRes)
    odd_pix_fmt: str | None  # a 4:4:4 format for odd sizes, where 4:2:0 can't be used


_CODECS: dict[str, _CodecSpec] = {
    "libx264": _CodecSpec("libx264", ".mp4", "yuv420p", 51, "yuv444p"),
    "libx265": _CodecSpec("libx265", ".mp4", "yuv420p", 51, "yuv444p"),
    "libvpx-vp9": _CodecSpec("libvpx-vp9", ".webm", "yuv420p", 63, "yuv444p"),
    "libaom-av1": _CodecSpec("libaom-av1", ".mp4", "yuv420p", 63, "yuv444p"),
    "libsvtav1": _CodecSpec("libsvtav1", ".mp4", "yuv420p", 63, None),
    "prores_ks": _CodecSpec("prores_ks", ".mov", "yuv422p10le", None, "yuv444p10le"),
}
_ALIASES = {
    "h264": "libx264",
    "x264": "libx264",
    "hevc": "libx265",
    "h265": "libx265",
    "x265": "libx265",
    "vp9": "libvpx-vp9",
    "av1": "libsvtav1",
    "prores": "prores_ks",
}
_X26X_PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)
# Speed knobs of the other encoders, mapped from the x264 preset names people know.
_VP9_CPU_USED = dict(zip(_X26X_PRESETS, ("8", "7", "6", "5", "4", "3", "2", "1", "0", "0")))
_SVT_PRESET = dict(zip(_X26X_PRESETS, ("12", "11", "10", "9", "8", "7", "5", "4", "2", "1")))

_CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
# Audio codecs each container takes as they are (others are re-encoded).
_COPYABLE_AUDIO = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le", "pcm_s16be", "pcm_s24be", "pcm_f32le"},
    "matroska": None,  # anything FFmpeg can mux into Matroska
    "webm": {"opus", "vorbis"},
}
_REENCODE_AUDIO = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus"}


def available_codecs() -> list[str]:
    """Video encoders vidstyle knows that this FFmpeg build has."""
    return [name for name in _CODECS if name in av.codecs_available]


def _codec_spec(codec: str) -> _CodecSpec:
    name = _ALIASES.get(codec, codec)
    if name == "libsvtav1" and name not in av.codecs_available and "libaom-av1" in av.codecs_available:
        name = "libaom-av1"
    spec = _CODECS.get(name)
    if spec is None:
        raise SettingsError(f"unknown codec {codec!r}; choose one of: {', '.join(available_codecs())}")
    if name not in av.codecs_available:
        raise SettingsError(
            f"codec {name} is not in this FFmpeg build; available: {', '.join(available_codecs())}"
        )
    return spec


def default_output_path(
    input: str | os.PathLike[str], suffix: str = "_styled", codec: str = "libx264"
) -> Path:
    """Where a render of ``input`` goes by default: beside it, named ``<stem><suffix><ext>``.

    The extension is the codec's usual container. Never returns the input itself.

    >>> default_output_path("clips/walk.avi")
    PosixPath('clips/walk_styled.mp4')
    """
    src = Path(input)
    ext = _codec_spec(codec).extension if codec in _CODECS or codec in _ALIASES else ".mp4"
    out = src.with_name(f"{src.stem}{suffix or '_styled'}{ext}")
    if out == src:
        out = src.with_name(f"{src.stem}{suffix or '_styled'}_styled{ext}")
    return out


class FrameWriter:
    """Encode frames into ``dest``, keeping timestamps, rotation, colour and audio.

    Writes into a hidden temporary file beside ``dest`` and renames it onto
    ``dest`` only when :meth:`close` has verified the frame count; on any error
    (or KeyboardInterrupt) inside the ``with`` block the temporary file is
    removed and ``dest`` is left as it was.

    Args:
        dest: output path; its extension picks the container (.mp4 .mov .mkv .webm).
        like: the input's :class:`VideoInfo` (size, time base, metadata, audio).
        codec: libx264 (default), libx265, libvpx-vp9, libsvtav1/libaom-av1, prores_ks
            or the aliases h264, hevc, vp9, av1, prores.
        crf: constant-quality level (ignored by ProRes).
        preset: x264-style speed preset; mapped for VP9/AV1.
        pix_fmt: encoder pixel format; by default 4:2:0 (4:4:4 for odd sizes),
            10-bit 4:2:2 for ProRes.
        overwrite: replace an existing ``dest``.
        range: the frames being rendered; audio is cut to match and timestamps
            start at 0. None means the whole video.
        expected_frames: if given, :meth:`close` fails unless exactly this many
            frames were written.
        audio: copy audio (and subtitle) streams from the input.

    Attributes:
        warnings: things the caller should tell the user (audio re-encoded,
            streams dropped, 4:4:4 chosen for an odd size).
    """

    def __init__(
        self,
        dest: str | os.PathLike[str],
        like: VideoInfo,
        codec: str = "libx264",
        crf: int = 18,
        preset: str = "medium",
        pix_fmt: str | None = None,
        overwrite: bool = False,
        range: FrameRange | None = None,
        expected_frames: int | None = None,
        audio: bool = True,
    ) -> None:
        self.dest = Path(dest)
        self.like = like
        self.spec = _codec_spec(codec)
        self.crf = crf
        self.preset = preset
        self.range = range if range is not None else _whole_range(like)
        # A whole video's container count can include AVI's empty "repeat"
        # entries, so only a cut range (counted from real packets) is a promise.
        self.expected_frames = expected_frames if expected_frames is not None else (
            None if self.range.whole else self.range.count
        )
        self.copy_audio = audio
        self.overwrite = overwrite
        self.warnings: list[str] = []
        self.frames_written = 0
        self.packets_written = 0
        self._last_pts: int | None = None
        self._tmp: Path | None = None
        self._out: av.container.OutputContainer | None = None
        self._video: av.video.stream.VideoStream | None = None
        self._passthrough: _Passthrough | None = None
        self._closed = False

        ext = self.dest.suffix.lower()
        self.format = _CONTAINERS.get(ext)
        if self.format is None:
            raise SettingsError(
                f"cannot write {self.dest.name}: use one of {', '.join(sorted(_CONTAINERS))} as extension"
            )
        self._check_settings(pix_fmt)
        check_destination(self.dest, overwrite=overwrite, inputs=(like.path,))

    # -- settings ----------------------------------------------------------- #

    def _check_settings(self, pix_fmt: str | None) -> None:
        spec = self.spec
        probe_out = av.open(os.devnull, mode="w", format=self.format)
        try:
            fits = spec.encoder in probe_out.supported_codecs
        finally:
            probe_out.close()
        if not fits:
            raise SettingsError(
                f"{spec.encoder} cannot go into a {self.dest.suffix} file; use {spec.extension} "
                f"(or .mkv) for this codec"
            )
        if spec.crf_max is not None and not 0 <= self.crf <= spec.crf_max:
            raise SettingsError(f"crf for {spec.encoder} must be between 0 and {spec.crf_max}, got {self.crf}")
        if self.preset not in _X26X_PRESETS:
            raise SettingsError(f"unknown preset {self.preset!r}; choose one of: {', '.join(_X26X_PRESETS)}")
        allowed = {f.name for f in (av.Codec(spec.encoder, "w").video_formats or ())}
        odd = self.like.width % 2 or self.like.height % 2
        if pix_fmt is None:
            pix_fmt = spec.pix_fmt
            if odd and "420" in pix_fmt or odd and "422" in pix_fmt:
                if spec.odd_pix_fmt is None:
                    raise SettingsError(
                        f"{spec.encoder} cannot encode the odd frame size {self.like.width}x{self.like.height}; "
                        "use libx264 or libx265"
                    )
                # 4:2:0 halves chroma in both directions, so odd sizes need 4:4:4.
                self.warnings.append(
                    f"odd frame size {self.like.width}x{self.like.height}: encoded as {spec.odd_pix_fmt}, "
                    "which some players cannot show"
                )
                pix_fmt = spec.odd_pix_fmt
        if allowed and pix_fmt not in allowed:
            raise SettingsError(
                f"{spec.encoder} cannot encode pixel format {pix_fmt}; choose one of: {', '.join(sorted(allowed))}"
            )
        try:
            fmt = av.VideoFormat(pix_fmt, self.like.width, self.like.height)
        except ValueError:
            raise SettingsError(f"unknown pixel format {pix_fmt!r}") from None
        subsampled = any(c.is_chroma and c.width != self.like.width for c in fmt.components) or any(
            c.is_chroma and c.height != self.like.height for c in fmt.components
        )
        if odd and subsampled:
            raise SettingsError(
                f"pixel format {pix_fmt} subsamples colour, which needs an even frame size; "
                f"the video is {self.like.width}x{self.like.height} (try yuv444p)"
            )
        self.pix_fmt = pix_fmt

    def _encoder_options(self) -> dict[str, str]:
        enc, crf, preset = self.spec.encoder, str(self.crf), self.preset
        if enc == "libx264":
            return {"crf": crf, "preset": preset}
        if enc == "libx265":
            return {"crf": crf, "preset": preset, "x265-params": "log-level=error"}
        if enc == "libvpx-vp9":
            return {"crf": crf, "b": "0", "cpu-used": _VP9_CPU_USED[preset], "row-mt": "1", "deadline": "good"}
        if enc == "libaom-av1":
            return {"crf": crf, "cpu-used": _VP9_CPU_USED[preset], "row-mt": "1"}
        if enc == "libsvtav1":
            return {"crf": crf, "preset": _SVT_PRESET[preset]}
        return {"profile": "3"}  # prores_ks: ProRes 422 HQ

    # -- lifecycle ---------------------------------------------------------- #

    def __enter__(self) -> FrameWriter:
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    def open(self) -> None:
        """Create the temporary file and set up the streams."""
        like = self.like
        tmp = temporary_beside(self.dest)
        self._tmp = tmp
        try:
            self._out = av.open(str(tmp), mode="w", format=self.format)
            v = self._out.add_stream(self.spec.encoder, rate=like.fps, options=self._encoder_options())
            v.width, v.height = like.width, like.height
            v.pix_fmt = self.pix_fmt
            # Keep the input's clock: each frame keeps its own pts, so variable
            # frame rate stays variable.
            v.time_base = like.time_base
            v.codec_context.time_base = like.time_base
            v.codec_context.framerate = like.fps
            c = like.color
            v.codec_context.color_range = c.color_range
            v.codec_context.color_primaries = c.color_primaries
            v.codec_context.color_trc = c.color_trc
            v.codec_context.colorspace = c.colorspace
            if like.sample_aspect_ratio:
                v.sample_aspect_ratio = like.sample_aspect_ratio
            if like.rotation:
                v.set_display_rotation(like.rotation)
            if self.spec.encoder == "libx265" and self.format in ("mp4", "mov"):
                v.codec_tag = "hvc1"  # what Apple players look for
            self._video = v
            if self.copy_audio:
                self._passthrough = _Passthrough(like, self._out, self.range, self.format, self.warnings)
        except av.error.FFmpegError as exc:
            self.abort()
            raise SettingsError(f"cannot set up {self.spec.encoder} for {self.dest.name}: {exc}") from exc
        except BaseException:
            self.abort()
            raise

    def write(self, indices: Sequence[int], pts: Sequence[int | None], rgb: torch.Tensor) -> None:
        """Encode a batch of consecutive frames.

        Args:
            indices: frame indices in the input (checked to follow on, no gaps).
            pts: each frame's timestamp in the input time base (None: from its index).

        Shape:
            ``rgb``: ``(B, 3, H, W)`` float in [0, 1], at the input's size.
        """
        if self._out is None or self._video is None:
            raise RuntimeError("FrameWriter must be opened (use it as a context manager)")
        like = self.like
        if rgb.ndim != 4 or tuple(rgb.shape[1:]) != (3, like.height, like.width) or rgb.shape[0] != len(indices):
            raise RenderError(
                f"frames to write must be ({len(indices)}, 3, {like.height}, {like.width}); got {tuple(rgb.shape)}"
            )
        arrays = tensor_to_frames(rgb)
        for i, (index, p, arr) in enumerate(zip(indices, pts, arrays)):
            want = self.range.first + self.frames_written
            if index != want:
                raise RenderError(f"frame {want} is missing: the writer received frame {index} instead")
            out_pts = self._output_pts(index, p)
            if self._last_pts is not None and out_pts <= self._last_pts:
                raise RenderError(
                    f"frame {index} has timestamp {out_pts}, not after the previous frame's {self._last_pts}"
                )
            self._last_pts = out_pts
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            c = like.color
            frame = frame.reformat(
                format=self.pix_fmt,
                dst_colorspace=c.colorspace if c.colorspace not in (0, 2) else None,
                dst_color_range=c.color_range or None,
            )
            frame.pts = out_pts
            frame.time_base = like.time_base
            self._mux(self._encode(frame, index))
            self.frames_written += 1
            if self._passthrough is not None and i == len(indices) - 1:
                # Interleave as we go so the muxer never buffers a whole stream.
                self._passthrough.pump(Fraction(out_pts) * like.time_base)

    def _output_pts(self, index: int, p: int | None) -> int:
        tb = self.like.time_base
        if p is None:
            return round(Fraction(index) / self.like.fps / tb) - (0 if self.range.whole else
                                                                     round(Fraction(self.range.first) / self.like.fps / tb))
        if self.range.whole:
            return p
        return p - (self.range.first_pts or 0)

    def _encode(self, frame: av.VideoFrame | None, index: int | None) -> list[av.Packet]:
        assert self._video is not None
        try:
            return self._video.encode(frame)
        except av.error.FFmpegError as exc:
            where = "flushing the encoder" if index is None else f"frame {index}"
            raise RenderError(f"{self.spec.encoder} failed on {where}: {exc}") from exc

    def _mux(self, packets: list[av.Packet]) -> None:
        assert self._out is not None
        try:
            for packet in packets:
                self._out.mux(packet)
                self.packets_written += 1
        except (av.error.FFmpegError, OSError) as exc:
            raise _output_error(self.dest, exc) from exc

    def close(self) -> Path:
        """Flush, verify the frame count, and move the file onto ``dest``."""
        if self._closed:
            return self.dest
        if self._out is None:
            raise RuntimeError("FrameWriter was never opened")
        try:
            self._mux(self._encode(None, None))
            if self._passthrough is not None:
                self._passthrough.pump(None)
            expected = self.expected_frames
            if self.frames_written == 0:
                raise RenderError("no frame was written")
            if expected is not None and self.frames_written != expected:
                raise RenderError(f"wrote {self.frames_written} frames but the range has {expected}")
            if self.packets_written != self.frames_written:
                raise RenderError(
                    f"the encoder produced {self.packets_written} packets for {self.frames_written} frames"
                )
            try:
                self._out.close()
            except (av.error.FFmpegError, OSError) as exc:
                raise _output_error(self.dest, exc) from exc
            self._out = None
            if self._passthrough is not None:
                self._passthrough.close()
            commit(self._tmp, self.dest, overwrite=self.overwrite)
            self._tmp = None
            self._closed = True
            return self.dest
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop without output: close everything and delete the temporary file."""
        self._closed = True
        if self._passthrough is not None:
            self._passthrough.close()
            self._passthrough = None
        if self._out is not None:
            try:
                self._out.close()
            except Exception:  # noqa: BLE001 - cleaning up after a failure already raised
                pass
            self._out = None
        if self._tmp is not None:
            try:
                self._tmp.unlink()
            except FileNotFoundError:
                pass
            self._tmp = None


def _output_error(dest: Path, exc: BaseException) -> OutputError | RenderError:
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC:
        return OutputError(f"the disk is full while writing {dest}; free some space or choose another folder")
    if isinstance(exc, OSError) and not isinstance(exc, av.error.FFmpegError):
        return OutputError(f"cannot write {dest}: {exc}")
    return RenderError(f"writing {dest} failed: {exc}")


class _Passthrough:
    """Copies the input's audio (and subtitle) packets into the output, cut to the range.

    A second demuxer on the input reads those streams lazily, so packets are
    muxed in step with the video and memory stays flat. Packets are copied
    byte for byte; only a codec the container cannot hold is re-encoded.
    """

    _LOOKAHEAD = Fraction(1, 2)  # seconds of audio kept ahead of the video

    def __init__(
        self,
        like: VideoInfo,
        out: av.container.OutputContainer,
        rng: FrameRange,
        fmt: str,
        warnings: list[str],
    ) -> None:
        self._in = _open_input(like.path)
        self._out = out
        self._t0 = None if rng.whole else rng.start_seconds
        self._t1 = None if rng.whole else rng.stop_seconds
        self._routes: dict[int, tuple[av.stream.Stream, av.codec.context.CodecContext | None]] = {}
        supported = out.supported_codecs
        copyable = _COPYABLE_AUDIO[fmt]
        for s in self._in.streams:
            if s.type == "audio":
                name = s.codec_context.name
                if name in supported and (copyable is None or name in copyable):
                    self._routes[s.index] = (out.add_stream_from_template(s), None)
                else:
                    target = _REENCODE_AUDIO[fmt]
                    ctx = s.codec_context
                    layout = ctx.layout.name
                    if layout.endswith("channels"):  # unordered ("2 channels"): encoders want a named layout
                        layout = {1: "mono", 2: "stereo", 6: "5.1", 8: "7.1"}.get(ctx.channels, layout)
                    o = out.add_stream(target, rate=ctx.sample_rate, layout=layout)
                    # The encoder's own first sample format (AAC wants fltp); frames are converted to it.
                    o.codec_context.format = av.Codec(target, "w").audio_formats[0]
                    if s.language:
                        o.metadata["language"] = s.language
                    self._routes[s.index] = (o, ctx)
                    warnings.append(
                        f"audio stream #{s.index} ({name}) cannot go into {fmt}: re-encoded as {target}"
                    )
            elif s.type in ("subtitle", "data"):
                name = s.codec_context.name if s.codec_context is not None else None
                if s.type == "subtitle" and name and name in supported and (
                    fmt == "matroska" or name == "mov_text" or (fmt == "webm" and name == "webvtt")
                ):
                    self._routes[s.index] = (out.add_stream_from_template(s), None)
                else:
                    warnings.append(f"{s.type} stream #{s.index} ({name or 'unknown'}) dropped: {fmt} cannot hold it")
        if not self._routes:
            self._packets: Iterator[av.Packet] = iter(())
        else:
            selected = [self._in.streams[i] for i in self._routes]
            if self._t0 is not None and self._t0 > 0:
                # Seek all streams to just before the range; earlier packets are skipped below.
                self._in.seek(int(self._t0 * av.time_base), backward=True)
            self._packets = self._in.demux(selected)
        self._pending: av.Packet | None = None
        self._done = not self._routes

    def pump(self, until: Fraction | None) -> None:
        """Mux packets up to ``until`` seconds of output time (None: all that remain)."""
        while not self._done:
            packet = self._pending or next(self._packets, None)
            self._pending = None
            if packet is None:
                self._flush_encoders()
                self._done = True
                return
            if packet.size == 0:  # end-of-stream marker from the demuxer
                continue
            if packet.pts is None or packet.time_base is None:
                continue
            t = Fraction(packet.pts) * packet.time_base
            if self._t0 is not None and t < self._t0:
                continue
            if self._t1 is not None and t >= self._t1:
                if t >= self._t1 + 10:  # well past the range in every interleaving
                    self._flush_encoders()
                    self._done = True
                    return
                continue
            out_t = t - (self._t0 or 0)
            if until is not None and out_t > until + self._LOOKAHEAD:
                self._pending = packet
                return
            self._route(packet)

    def _route(self, packet: av.Packet) -> None:
        stream, decoder = self._routes[packet.stream_index]
        shift = 0 if self._t0 is None else round(self._t0 / packet.time_base)
        if decoder is None:
            if packet.pts is not None:
                packet.pts -= shift
            if packet.dts is not None:
                packet.dts -= shift
            packet.stream = stream
            self._out.mux(packet)
            return
        for frame in decoder.decode(packet):
            if frame.pts is not None:
                frame.pts -= shift
            self._out.mux(stream.encode(frame))

    def _flush_encoders(self) -> None:
        for stream, decoder in self._routes.values():
            if decoder is not None:
                for frame in decoder.decode(None):
                    self._out.mux(stream.encode(frame))
                self._out.mux(stream.encode(None))

    def close(self) -> None:
        self._in.close()


# --------------------------------------------------------------------------- #
# Joining chunks (farm renders)
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ChunkFile:
    """One rendered piece of a video, to be joined by :func:`join_chunks`.

    ``first_pts`` is the input timestamp (input time base) of its first frame:
    the chunk's own timestamps start at 0 and are moved back there.
    """

    path: Path
    frames: int
    first_pts: int


@dataclass(frozen=True)
class ChunkScan:
    """What a demux-only pass learned about a chunk file."""

    packets: int
    first_is_keyframe: bool
    codec: str
    width: int
    height: int
    extradata: bytes


def scan_chunk(path: str | os.PathLike[str]) -> ChunkScan:
    """Count the video packets of a rendered chunk without decoding it."""
    path = Path(path)
    with _open_input(path) as container:
        stream = _video_stream(container, path)
        packets = 0
        first_key = False
        for packet in container.demux(stream):
            if packet.size == 0:
                continue
            if packets == 0:
                first_key = bool(packet.is_keyframe)
            packets += 1
        ctx = stream.codec_context
        return ChunkScan(packets, first_key, ctx.name, ctx.width, ctx.height, bytes(ctx.extradata or b""))


def join_chunks(
    chunks: Sequence[ChunkFile],
    like: VideoInfo,
    dest: str | os.PathLike[str],
    *,
    overwrite: bool = False,
    audio: bool = True,
) -> int:
    """Join rendered chunks of ``like`` into ``dest`` by stream copy, adding its audio once.

    No frame is re-encoded: each chunk must start with a keyframe and share the
    first chunk's codec, size and parameter sets (same encoder settings). Video
    timestamps go back to the input's (each chunk is moved to its
    ``first_pts``), exactly as a single render writes them; the decode
    timestamps must rise across every join. The input's audio (and subtitle)
    streams are copied whole, interleaved as :class:`FrameWriter` does.
    Nothing appears at ``dest`` unless every chunk was joined and counted.

    Returns:
        The number of video frames written.

    Raises:
        RenderError: a chunk is unreadable, has other encoder settings, does
            not start with a keyframe, or would make timestamps go backwards.
        OutputError: ``dest`` cannot be written.
    """
    dest = Path(dest)
    if not chunks:
        raise RenderError("no chunk to join")
    fmt = _CONTAINERS.get(dest.suffix.lower())
    if fmt is None:
        raise SettingsError(f"cannot write {dest.name}: use one of {', '.join(sorted(_CONTAINERS))} as extension")
    check_destination(dest, overwrite=overwrite, inputs=(like.path,))
    scans = []
    for n, chunk in enumerate(chunks):
        try:
            scan = scan_chunk(chunk.path)
        except InputError as exc:
            raise RenderError(f"chunk {n} ({chunk.path.name}) cannot be read: {exc}") from None
        if scan.packets != chunk.frames:
            raise RenderError(f"chunk {n} ({chunk.path.name}) has {scan.packets} frames, expected {chunk.frames}")
        if not scan.first_is_keyframe:
            raise RenderError(f"chunk {n} ({chunk.path.name}) does not start with a keyframe, so it cannot be joined")
        first = scans[0] if scans else scan
        if (scan.codec, scan.width, scan.height, scan.extradata) != (
            first.codec, first.width, first.height, first.extradata
        ):
            raise RenderError(
                f"chunk {n} ({chunk.path.name}) was encoded with other settings than chunk 0 "
                f"({scan.codec} {scan.width}x{scan.height} vs {first.codec} {first.width}x{first.height}"
                f"{', other parameter sets' if scan.extradata != first.extradata else ''}); render it again"
            )
        scans.append(scan)

    tmp = temporary_beside(dest)
    out = None
    passthrough = None
    written = 0
    try:
        out = av.open(str(tmp), mode="w", format=fmt)
        with _open_input(chunks[0].path) as c0:
            template = _video_stream(c0, chunks[0].path)
            video = out.add_stream_from_template(template)
            video.time_base = template.time_base
            if like.rotation:
                video.set_display_rotation(like.rotation)
        if audio:
            warnings: list[str] = []
            passthrough = _Passthrough(like, out, _whole_range(like), fmt, warnings)
        last_dts: Fraction | None = None
        for n, chunk in enumerate(chunks):
            with _open_input(chunk.path) as container:
                stream = _video_stream(container, chunk.path)
                tb = Fraction(stream.time_base)
                shift: Fraction | None = None
                for packet in container.demux(stream):
                    if packet.size == 0:
                        continue
                    if packet.pts is None or packet.dts is None:
                        raise RenderError(f"chunk {n} ({chunk.path.name}) has a packet without timestamps")
                    if shift is None:
                        # The first packet is the chunk's first frame (a keyframe shown first).
                        shift = Fraction(chunk.first_pts) * like.time_base - Fraction(packet.pts) * tb
                    pts = Fraction(packet.pts) * tb + shift
                    dts = Fraction(packet.dts) * tb + shift
                    if last_dts is not None and dts <= last_dts:
                        raise RenderError(
                            f"chunk {n} ({chunk.path.name}) cannot follow chunk {n - 1} by stream copy: its decode "
                            f"timestamps start at {float(dts):.4f} s, not after {float(last_dts):.4f} s; "
                            "render the chunks with the same encoder settings"
                        )
                    last_dts = dts
                    out_tb = Fraction(video.time_base) if video.time_base else tb
                    p, d = pts / out_tb, dts / out_tb
                    if p.denominator != 1 or d.denominator != 1:
                        p, d = round(p), round(d)
                    packet.pts, packet.dts = int(p), int(d)
                    packet.time_base = out_tb
                    packet.stream = video
                    try:
                        out.mux(packet)
                    except (av.error.FFmpegError, OSError) as exc:
                        raise _output_error(dest, exc) from exc
                    written += 1
                    if passthrough is not None:
                        passthrough.pump(Fraction(packet.pts) * out_tb)
        if passthrough is not None:
            passthrough.pump(None)
        try:
            out.close()
        except (av.error.FFmpegError, OSError) as exc:
            raise _output_error(dest, exc) from exc
        out = None
        expected = sum(c.frames for c in chunks)
        if written != expected:
            raise RenderError(f"joined {written} frames but the chunks hold {expected}")
        commit(tmp, dest, overwrite=overwrite)
        tmp = None
        return written
    finally:
        if passthrough is not None:
            passthrough.close()
        if out is not None:
            try:
                out.close()
            except Exception:  # noqa: BLE001 - cleaning up after a failure already raised
                pass
        if tmp is not None:
            try:
                tmp.unlink()
            except FileNotFoundError:
                pass
