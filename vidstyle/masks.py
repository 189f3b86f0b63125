"""Masks for spatial control on video: still images and mask videos, fitted and read in step.

A mask entry (``--mask`` or a keyframe's ``masks``) is either a greyscale
image, one mask for every frame, or a *mask video*: one mask frame per frame
of the input, aligned by frame index. Which one is decided by probing the file
(:func:`is_video`): anything Pillow reads as a single picture stays an image.

Everything is checked before the first frame is rendered (:class:`MaskLoader`):
a missing or unreadable file, a mask video whose frame count differs from the
input's (an :class:`~vidstyle.errors.InputError` naming the file and both
counts). A mask of another size than the video is resized to it, with a
warning in the result (the library never prints).

During the render, :class:`MaskedReader` decodes every mask video through
:class:`~vidstyle.video.FrameReader` over the same frame range as the input,
batch for batch with it in the reader thread (streaming: memory stays flat),
and hands the masks on with each :class:`MaskedBatch`. The model stage puts
each frame's masks into its look with :func:`fill`.

Shapes: masks are ``(B, K, H, W)`` in [0, 1] at the video's size; the model
resizes them to its feature map, feathers and normalises them
(:func:`vidstyle.stats.spatial_adain`).
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import TypeVar

import torch

from .errors import InputError, RenderError
from .imageio import read_image, resize
from .video import FrameBatch, FrameRange, FrameReader, VideoInfo, probe

__all__ = ["is_video", "MaskSet", "MaskLoader", "MaskedBatch", "MaskedReader", "fill", "fill_masks"]

T = TypeVar("T")


def is_video(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a video (a mask video), False for a still image.

    Probes the file: one picture Pillow can identify is an image (PNG, JPEG,
    TIFF, a single-frame GIF...); anything else must be a video FFmpeg reads.

    Raises:
        InputError: missing, or neither an image nor a video.
    """
    from PIL import Image as PILImage, UnidentifiedImageError

    path = Path(path)
    if not path.is_file():
        raise InputError(f"mask not found: {path}")
    try:
        with PILImage.open(path) as img:
            if int(getattr(img, "n_frames", 1)) <= 1:
                return False
    except (UnidentifiedImageError, OSError, ValueError, SyntaxError):
        pass
    try:
        probe(path)
    except InputError as exc:
        raise InputError(f"mask {path} is neither an image nor a readable video ({exc})") from None
    return True


def _grey(rgb: torch.Tensor) -> torch.Tensor:
    """RGB ``(B, 3, H, W)`` -> greyscale mask ``(B, 1, H, W)`` (the mean, as for mask images)."""
    return rgb.mean(dim=1, keepdim=True).clamp(0, 1)


def _exact_frames(info: VideoInfo) -> int:
    """The exact number of frames: the container's when exact, else by counting packets (no decoding)."""
    if info.frame_count_exact:
        return info.frame_count
    from .video import _count_packets, _open_input, _video_stream

    with _open_input(info.path) as c:
        return len(_count_packets(c, _video_stream(c, info.path)))


@dataclass(frozen=True)
class MaskSet:
    """The masks of one keyframe (or of a whole ``--mask`` render), as given.

    ``stills`` is ``(1, K, H, W)`` at the video's size with the still masks in
    place and zeros where a mask video goes; ``streams[k]`` names the mask video
    of slot ``k`` (None for a still); :func:`fill_masks` puts the frames' masks in.
    """

    paths: tuple[Path, ...]
    stills: torch.Tensor
    streams: tuple[str | None, ...]

    @property
    def has_video(self) -> bool:
        return any(s is not None for s in self.streams)


def fill_masks(
    stills: torch.Tensor,
    streams: Sequence[str | None],
    decoded: Mapping[str, torch.Tensor],
    rows: slice | int = slice(None),
) -> torch.Tensor:
    """The masks of some frames of a batch: still slots from ``stills``, the others from the mask videos.

    ``decoded[name]`` is the batch's frames of mask video ``name``
    (:attr:`MaskedBatch.masks`); ``rows`` picks frames of the batch.

    Shape:
        stills ``(1, K, H, W)``; decoded ``(B, 1, H, W)`` each -> ``(b, K, H, W)``
        (``(1, K, H, W)`` for an int ``rows``).
    """
    if not any(streams):
        return stills
    rows = slice(rows, rows + 1) if isinstance(rows, int) else rows
    first = next(decoded[s] for s in streams if s is not None)[rows]
    out = stills.expand(first.shape[0], -1, -1, -1).clone()
    for k, name in enumerate(streams):
        if name is not None:
            out[:, k : k + 1] = decoded[name][rows]
    return out


def fill(look: T, decoded: Mapping[str, torch.Tensor], rows: slice | int = slice(None)) -> T:
    """A :class:`~vidstyle.stylize.Look` or :class:`~vidstyle.timeline.StyleState` with the frames' masks in place.

    Unchanged when it has no mask video; otherwise its ``masks`` become those
    of the batch rows ``rows`` and its ``mask_streams`` are cleared.
    """
    if not any(look.mask_streams):
        return look
    masks = fill_masks(look.masks, look.mask_streams, decoded, rows)
    return replace(look, masks=masks, mask_streams=())


class MaskLoader:
    """Loads and checks mask files against one input video, each file once.

    Args:
        info: the input video's :class:`~vidstyle.video.VideoInfo`.

    After :meth:`load`, ``warnings`` holds one line per resized mask and
    ``videos`` every mask video used (name -> its info), for :class:`MaskedReader`.
    """

    def __init__(self, info: VideoInfo) -> None:
        self.info = info
        self.size = (info.height, info.width)
        self.warnings: list[str] = []
        self.videos: dict[str, VideoInfo] = {}
        self._stills: dict[Path, torch.Tensor] = {}
        self._input_frames: int | None = None

    def load(self, paths: Sequence[str | os.PathLike[str]], where: str = "--mask") -> MaskSet:
        """Check every mask of one set and return it as a :class:`MaskSet`.

        Raises:
            InputError: a file is missing or unreadable, or a mask video's frame
                count differs from the input's (the message names both counts).
        """
        stills = torch.zeros(1, len(paths), *self.size)
        streams: list[str | None] = []
        for k, p in enumerate(map(Path, paths)):
            if is_video(p):
                streams.append(self._video(p, where))
            else:
                stills[:, k : k + 1] = self._still(p)
                streams.append(None)
        return MaskSet(tuple(map(Path, paths)), stills, tuple(streams))

    def _still(self, path: Path) -> torch.Tensor:
        if path not in self._stills:
            grey = _grey(read_image(path).rgb)
            self._stills[path] = self._fit(grey, path, "mask")
        return self._stills[path]

    def _video(self, path: Path, where: str) -> str:
        name = str(path)
        if name in self.videos:
            return name
        info = probe(path)
        if self._input_frames is None:
            self._input_frames = _exact_frames(self.info)
        n, m = self._input_frames, _exact_frames(info)
        if m != n:
            raise InputError(
                f"{where}: mask video {path} has {m} frames but {self.info.path} has {n}: "
                "a mask video needs exactly one frame per frame of the input"
            )
        if (info.height, info.width) != self.size:
            self.warnings.append(self._size_warning(path, "mask video", (info.height, info.width)))
        if Fraction(info.fps) != Fraction(self.info.fps):
            self.warnings.append(
                f"mask video {path} runs at {float(info.fps):g} fps but the video at {float(self.info.fps):g} fps: "
                "its frames are used by number, frame for frame"
            )
        self.videos[name] = info
        return name

    def _fit(self, mask: torch.Tensor, path: Path, what: str) -> torch.Tensor:
        got = tuple(mask.shape[-2:])
        if got == self.size:
            return mask
        self.warnings.append(self._size_warning(path, what, got))
        return resize(mask, self.size).clamp(0, 1)

    def _size_warning(self, path: Path, what: str, got: tuple[int, int]) -> str:
        (mh, mw), (h, w) = got, self.size
        shape = "" if abs(mh / mw - h / w) <= 0.01 * (h / w) else ", stretched: its shape differs"
        return f"{what} {path} is {mw}x{mh} but the video is {w}x{h}: resized to {w}x{h}{shape}"


@dataclass
class MaskedBatch(FrameBatch):
    """A :class:`~vidstyle.video.FrameBatch` with the same frames of every mask video.

    Shape:
        ``masks[name]``: ``(B, 1, H, W)`` in [0, 1] at the input's size.
    """

    masks: dict[str, torch.Tensor] = field(default_factory=dict)


class MaskedReader:
    """The input's :class:`~vidstyle.video.FrameReader` with the mask videos decoded in step.

    Each mask video is read over the input's frame range, at the input's size
    (FFmpeg's area scaler when it differs), batch for batch with the input;
    a frame missing on either side is a :class:`~vidstyle.errors.RenderError`.
    A context manager, like the reader it wraps.
    """

    def __init__(self, reader: FrameReader, videos: Mapping[str, VideoInfo]) -> None:
        self.reader = reader
        rng: FrameRange = reader.range
        size = (reader.info.width, reader.info.height)
        frames = None if rng.whole else (rng.first, rng.stop)
        self.masks = {
            name: FrameReader(info.path, frames=frames, info=info,
                              scale_to=None if (info.width, info.height) == size else size)
            for name, info in videos.items()
        }

    @property
    def frames_read(self) -> int:
        return self.reader.frames_read

    def __enter__(self) -> MaskedReader:
        self.reader.__enter__()
        for r in self.masks.values():
            r.__enter__()
        return self

    def __exit__(self, *exc: object) -> None:
        for r in self.masks.values():
            r.close()
        self.reader.close()

    def iter_batches(self, batch_size: int) -> Iterator[MaskedBatch]:
        its = {name: r.iter_batches(batch_size) for name, r in self.masks.items()}
        try:
            for batch in self.reader.iter_batches(batch_size):
                masks = {}
                for name, it in its.items():
                    got = next(it, None)
                    if got is None or got.indices != batch.indices:
                        at = batch.indices[0] if got is None else next(
                            (a for a, b in zip(batch.indices, got.indices) if a != b), batch.indices[-1])
                        raise RenderError(f"mask video {name} has no frame {at} to go with the input's")
                    masks[name] = _grey(got.rgb)
                yield MaskedBatch(batch.indices, batch.pts, batch.times, batch.rgb, masks)
        finally:
            for it in its.values():
                it.close()
