"""What a video is: its properties (:func:`probe`) and its exact frame count (:func:`count_frames`).

Every other module opens inputs through :func:`open_input` and finds the
picture through :func:`video_stream`, so a file that cannot be read fails the
same way, with one line, wherever it is met.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

import av
import av.error

from ..errors import InputError, SettingsError
from ..settings import SequenceSettings

__all__ = [
    "AudioStreamInfo", "ColorInfo", "VideoInfo", "probe", "count_frames", "frame_timestamps",
    "open_input", "video_stream",
]


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
    the packets were counted), else estimated from duration x rate; for a
    count that is always exact, see :func:`count_frames`.
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
    # A numbered image sequence (vidstyle.video.sequence.ImageSequence); None for a video file.
    sequence: Any = None


def open_input(path: Path) -> av.container.InputContainer:
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


def video_stream(container: av.container.InputContainer, path: Path) -> av.video.stream.VideoStream:
    """The picture: the first video stream that is not an attached cover image."""
    # Cover art in an audio file is a "video" stream of one attached picture:
    # that is not a video we can restyle.
    streams = [
        s for s in container.streams.video if not (s.disposition & av.stream.Disposition.attached_pic)
    ]
    if not streams:
        raise InputError(f"{path} has no video stream (is it an audio file or an image?)")
    return streams[0]


def _packet_pts(container: av.container.InputContainer, stream: av.video.stream.VideoStream) -> list[int | None]:
    """Presentation timestamps of every video packet, in file order (a demux-only pass)."""
    pts: list[int | None] = []
    for packet in container.demux(stream):
        if packet.size == 0 or packet.is_discard:
            continue
        pts.append(packet.pts)
    return pts


def _demux_pts(path: Path) -> list[int | None]:
    with open_input(path) as container:
        return _packet_pts(container, video_stream(container, path))


def _path_of(video: VideoInfo | str | os.PathLike[str]) -> Path:
    return video.path if isinstance(video, VideoInfo) else Path(video)


def _sequence_count(video: VideoInfo | str | os.PathLike[str]) -> int | None:
    """The frame count of an image sequence (its files, checked at probe), or None for a video file."""
    from .sequence import is_sequence_path

    if isinstance(video, VideoInfo):
        return None if video.sequence is None else video.sequence.count
    return probe(video).frame_count if is_sequence_path(video) else None


def count_frames(video: VideoInfo | str | os.PathLike[str]) -> int:
    """The exact number of frames of a video, by a demux-only pass (nothing is decoded).

    One frame per coded packet, as the reader decodes them; the container's
    own count is not trusted (AVI counts its empty "repeat" entries too).

    Raises:
        InputError: the file is missing or not a video.
    """
    n = _sequence_count(video)
    return n if n is not None else len(_demux_pts(_path_of(video)))


def frame_timestamps(video: VideoInfo | str | os.PathLike[str]) -> list[int]:
    """The presentation timestamp of every frame, sorted (display order), by a demux-only pass.

    Frame ``i`` of the video is the one shown at ``frame_timestamps(v)[i]``,
    in the video stream's time base: exact for variable frame rate too.

    Raises:
        InputError: the file is missing or not a video, or has no frame.
        SettingsError: some frames carry no timestamp, so frames cannot be placed exactly.
    """
    n = _sequence_count(video)
    if n is not None:  # frame i of a sequence has timestamp i, in a time base of 1 / fps
        return list(range(n))
    path = _path_of(video)
    raw = _demux_pts(path)
    if any(p is None for p in raw):
        raise SettingsError(
            f"{path} has frames without timestamps, so a range cannot be cut exactly; "
            "render the whole video or re-encode it first"
        )
    if not raw:
        raise InputError(f"{path} has a video stream but no frames")
    return sorted(p for p in raw if p is not None)


def probe(path: str | os.PathLike[str], sequence: SequenceSettings = SequenceSettings()) -> VideoInfo:
    """Read a video's properties without decoding more than its first frame.

    Args:
        path: the video file, or a numbered image sequence (``plate.%04d.exr``,
            ``plate.####.exr``: see :mod:`vidstyle.video.sequence`).
        sequence: the rate and colour of an image sequence (a video file ignores it).

    Returns:
        A :class:`VideoInfo`.

    Raises:
        InputError: the file is missing, not a video, has no video stream, or
            has no frame that decodes; a sequence misses a frame.
    """
    from .sequence import is_sequence_path, probe_sequence

    if is_sequence_path(path):
        return probe_sequence(path, sequence)
    path = Path(path)
    with open_input(path) as container:
        stream = video_stream(container, path)
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
            count = len(_packet_pts(container, stream))
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
