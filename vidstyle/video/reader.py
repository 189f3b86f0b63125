"""Decoding: a video, or an exact range of it, into batches of float RGB frames.

This is the one place decoded pixels become tensors (:func:`frames_to_tensor`).
Frames stream one batch at a time, so memory stays flat whatever the length;
a frame that does not decode, or one missing from the range, fails the read
with its index.
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field

import av
import av.error
import numpy as np
import torch

from ..errors import RenderError, SettingsError
from ..settings import Span
from .probe import VideoInfo, open_input, probe, video_stream
from .ranges import resolve_range

__all__ = ["FrameBatch", "FrameReader", "frames_to_tensor"]


def frames_to_tensor(arrays: Sequence[np.ndarray]) -> torch.Tensor:
    """Stack decoded ``(H, W, 3)`` uint8 or uint16 RGB arrays (or float32 ones, already in [0, 1]) into float RGB.

    Shape:
        ``arrays``: B x ``(H, W, 3)`` -> ``(B, 3, H, W)`` float32 in [0, 1].
    """
    stacked = np.stack(arrays)
    scale = 65535.0 if stacked.dtype == np.uint16 else 1.0 if stacked.dtype == np.float32 else 255.0
    # In numpy, on purpose: this runs in the reader's thread beside the model,
    # and a torch op there would start its own team of intra-op threads that
    # wait on cores the model is using (measured: ~8 ms per op instead of <1).
    out = np.empty((stacked.shape[0], 3, *stacked.shape[1:3]), np.float32)
    np.divide(stacked.transpose(0, 3, 1, 2), np.float32(scale), out=out)
    return torch.from_numpy(out)


@dataclass
class FrameBatch:
    """A run of consecutive frames on their way through the pipeline.

    ``times`` are seconds from the first frame of the video. ``pts`` are in the
    input stream's time base (None where the file gave none). ``masks`` holds
    the same frames of each mask video, by name (see :class:`vidstyle.masks.MaskedReader`).

    Shape:
        ``rgb``: ``(B, 3, H, W)`` float32 in [0, 1]; ``masks[name]``: ``(B, 1, H, W)`` in [0, 1].
    """

    indices: list[int]
    pts: list[int | None]
    times: list[float]
    rgb: torch.Tensor
    masks: dict[str, torch.Tensor] = field(default_factory=dict)

    def part(self, start: int, stop: int) -> FrameBatch:
        """Frames ``start:stop`` of this batch (positions in it, not video indices), masks included."""
        return FrameBatch(self.indices[start:stop], self.pts[start:stop], self.times[start:stop],
                          self.rgb[start:stop], {k: v[start:stop] for k, v in self.masks.items()})


class FrameReader:
    """Decode a video, or an exact range of it, into :class:`FrameBatch` es.

    Args:
        path: the video.
        span: which frames (:class:`~vidstyle.settings.Span`); all of them by default.
        info: its :func:`probe` result, when already known.
        scale_to: ``(width, height)`` to decode straight to (area-averaged by
            FFmpeg's scaler), for cheap analysis passes such as shot detection;
            None (the default) keeps the video's own size.

    Example:
        >>> with FrameReader("in.mp4", Span(frames=(10, 20))) as reader:  # doctest: +SKIP
        ...     for batch in reader.iter_batches(4):
        ...         ...
    """

    def __init__(
        self,
        path: str | os.PathLike[str],
        span: Span = Span(),
        *,
        info: VideoInfo | None = None,
        scale_to: tuple[int, int] | None = None,
    ) -> None:
        if scale_to is not None and (len(scale_to) != 2 or min(scale_to) < 1):
            raise SettingsError(f"scale_to must be (width, height) of at least 1 pixel, got {scale_to!r}")
        self.scale_to = None if scale_to is None else (int(scale_to[0]), int(scale_to[1]))
        self.info = info if info is not None else probe(path)
        self.range, all_pts = resolve_range(self.info, span)
        self._pts_index = {p: i for i, p in enumerate(all_pts)}
        self._container: av.container.InputContainer | None = None
        self.frames_read = 0

    @property
    def expected_frames(self) -> int | None:
        """Frames to expect, for progress: exact for a cut range; for a whole video the
        container's count (AVI counts its empty "repeat" entries too), or None."""
        return self.range.count

    def __enter__(self) -> FrameReader:
        if self.info.sequence is None:  # a sequence's frames are files, each opened in turn
            self._container = open_input(self.info.path)
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
        if self.info.sequence is not None:
            from .sequence import iter_sequence_frames

            for index, p, t, arr in iter_sequence_frames(self.info, self.range, self.scale_to):
                self.frames_read += 1
                yield index, p, t, arr
            return
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
            self._container = open_input(self.info.path)
            yield from self._decode(seek=False)

    def _decode(self, seek: bool) -> Iterator[tuple[int, int | None, float, np.ndarray]]:
        container = self._container
        assert container is not None  # guarded by _iter_frames
        stream = video_stream(container, self.info.path)
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
