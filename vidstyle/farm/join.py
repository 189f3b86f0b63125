"""Joining rendered chunks into one file by stream copy, with the input's audio once.

A farm renders a video as independent chunks, each a separate encode that
starts with a keyframe; :func:`join_chunks` puts their packets back on the
input's timeline without re-encoding anything, and copies the input's audio
as a single render does.
"""
from __future__ import annotations

import os
from collections.abc import Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import av.error

from ..errors import InputError, RenderError
from ..outputs import check_destination, commit, temporary_beside
from ..video.audio import AudioPassthrough
from ..video.codecs import container_for
from ..video.probe import VideoInfo, open_input, video_stream
from ..video.ranges import whole_range
from ..video.writer import output_error

__all__ = ["ChunkFile", "ChunkScan", "scan_chunk", "join_chunks"]


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
    with open_input(path) as container:
        stream = video_stream(container, path)
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
    fmt = container_for(dest)
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
        with open_input(chunks[0].path) as c0:
            template = video_stream(c0, chunks[0].path)
            video = out.add_stream_from_template(template)
            video.time_base = template.time_base
            if like.rotation:
                video.set_display_rotation(like.rotation)
        if audio:
            warnings: list[str] = []
            passthrough = AudioPassthrough(like, out, whole_range(like), fmt, warnings)
        last_dts: Fraction | None = None
        for n, chunk in enumerate(chunks):
            with open_input(chunk.path) as container:
                stream = video_stream(container, chunk.path)
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
                        raise output_error(dest, exc) from exc
                    written += 1
                    if passthrough is not None:
                        passthrough.pump(Fraction(packet.pts) * out_tb)
        if passthrough is not None:
            passthrough.pump(None)
        try:
            out.close()
        except (av.error.FFmpegError, OSError) as exc:
            raise output_error(dest, exc) from exc
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
