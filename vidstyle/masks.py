"""Masks for spatial control: still images and mask videos, checked, fitted and read in step.

A mask entry (``masks`` of the style settings or of a timeline keyframe) is
either a greyscale image, one mask for every frame, or, for a video, a *mask
video*: one mask frame per frame of the input, aligned by frame index. Which
one is decided by probing the file (:func:`is_video`): anything Pillow reads as
a single picture stays an image.

Everything is checked before the first frame is rendered (:class:`MaskLoader`):
a missing or unreadable file, a mask video whose frame count differs from the
input's, a mask of another shape than the frame (:func:`fit_mask`: an error,
because stretched regions would fall elsewhere than drawn). A mask of the same
shape at another resolution is resized, with a warning in the result (the
library never prints).

During a render, :class:`MaskedReader` decodes every mask video through
:class:`~vidstyle.video.FrameReader` over the same frame range as the input,
batch for batch with it in the reader thread (streaming: memory stays flat),
and hands the masks on in each batch's ``masks``; each frame's look takes its
row (:meth:`vidstyle.look.Look.for_frame`).

Shapes: masks are ``(B, K, H, W)`` in [0, 1] at the frame's size; the model
resizes them to its feature map, feathers and normalises them
(:func:`vidstyle.stats.spatial_adain`).
"""
from __future__ import annotations

import os
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import torch

from .errors import InputError, RenderError
from .imageio import read_image, resize
from .settings import SequenceSettings, Span
from .video import FrameBatch, FrameRange, FrameReader, VideoInfo, count_frames, is_sequence_path, probe

__all__ = ["is_video", "fit_mask", "MaskSet", "MaskLoader", "MaskedReader"]

# How far a mask's aspect ratio may differ from the frame's and still be the
# same shape: encoders pad heights to a multiple of 16 (1088 for 1080, 0.7%).
SHAPE_TOLERANCE = 0.01


def is_video(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` is a video (a mask video), False for a still image.

    Probes the file: one picture Pillow can identify is an image (PNG, JPEG,
    TIFF, a single-frame GIF...); anything else must be a video FFmpeg reads.

    Raises:
        InputError: missing, or neither an image nor a video.
    """
    from PIL import Image as PILImage, UnidentifiedImageError

    path = Path(path)
    if is_sequence_path(path):  # a numbered image sequence (mask.%04d.png): one mask frame per input frame
        return True
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


def fit_mask(mask: torch.Tensor, size: tuple[int, int], name: str) -> tuple[torch.Tensor, str | None]:
    """A mask at the frame's size, and the warning to give when it had to be resized.

    ``name`` says which mask in the messages (``"mask sky.png"``).

    The one rule for masks of another size: the same shape (aspect ratio within
    1%) at another resolution is resized; another shape is an error, since a
    stretched mask puts its regions elsewhere than they were drawn, and that
    would only show after the render.

    Shape:
        ``(1, K, h, w)`` -> ``(1, K, H, W)`` for ``size = (H, W)``.

    Raises:
        InputError: the mask's shape differs from the frame's.
    """
    (mh, mw), (h, w) = tuple(mask.shape[-2:]), size
    if (mh, mw) == (h, w):
        return mask, None
    if abs(mh / mw - h / w) > SHAPE_TOLERANCE * (h / w):
        raise InputError(
            f"{name} is {mw}x{mh} but the frame is {w}x{h}: a mask needs the frame's shape "
            f"(make it {w}x{h}, or any size of the same aspect ratio)", settings="masks",
        )
    return resize(mask, size).clamp(0, 1), f"{name} is {mw}x{mh} but the frame is {w}x{h}: resized to {w}x{h}"


@dataclass(frozen=True)
class MaskSet:
    """The masks of one keyframe (or of a whole render's settings), checked and fitted.

    ``stills`` is ``(1, K, H, W)`` at the frame's size with the still masks in
    place and zeros where a mask video goes; ``streams[k]`` names the mask video
    of slot ``k`` (None for a still). A look made from them fills each frame's
    masks in with :meth:`vidstyle.look.Look.for_frame`.
    """

    paths: tuple[Path, ...]
    stills: torch.Tensor
    streams: tuple[str | None, ...]


class MaskLoader:
    """Loads and checks mask files for frames of one size, each file once.

    Args:
        size: the frame's ``(height, width)``.
        video: the input video, for a video: mask videos must have its frame
            count. None for a still image, which takes mask images only.

    After :meth:`load`, ``warnings`` holds one line per resized mask and
    ``videos`` every mask video used (name -> its info), for :class:`MaskedReader`.
    """

    def __init__(self, size: tuple[int, int], video: VideoInfo | None = None) -> None:
        self.size = (int(size[0]), int(size[1]))
        self.video = video
        self.warnings: list[str] = []
        self.videos: dict[str, VideoInfo] = {}
        self._stills: dict[Path, torch.Tensor] = {}
        self._input_frames: int | None = None

    def load(self, paths: Sequence[str | os.PathLike[str]], where: str = "") -> MaskSet:
        """Check every mask of one set and return it as a :class:`MaskSet`.

        ``where`` (a timeline keyframe) starts the messages.

        Raises:
            InputError: a file is missing or unreadable, a mask has another
                shape than the frame, or a mask video's frame count differs from
                the input's (the message names both counts).
        """
        stills = torch.zeros(1, len(paths), *self.size)
        streams: list[str | None] = []
        for k, p in enumerate(map(Path, paths)):
            if is_video(p):
                streams.append(self._video(p, where))
            else:
                stills[:, k : k + 1] = self._still(p, where)
                streams.append(None)
        return MaskSet(tuple(map(Path, paths)), stills, tuple(streams))

    def _still(self, path: Path, where: str) -> torch.Tensor:
        if path not in self._stills:
            mask, warning = fit_mask(_grey(read_image(path).rgb), self.size, _named(where, "mask", path))
            self._stills[path] = mask
            self.warnings += [warning] if warning else []
        return self._stills[path]

    def _video(self, path: Path, where: str) -> str:
        name = str(path)
        if name in self.videos:
            return name
        if self.video is None:
            raise InputError(f"{_named(where, 'mask', path)} is a video; a still image takes mask images",
                             settings="masks")
        # A mask sequence plays at the input's rate, and its grey values are used as they are.
        info = probe(path, SequenceSettings(fps=self.video.fps, transfer="display"))
        if self._input_frames is None:
            self._input_frames = count_frames(self.video)
        n, m = self._input_frames, count_frames(info)
        if m != n:
            raise InputError(
                f"{_named(where, 'mask video', path)} has {m} frames but {self.video.path} has {n}: "
                "a mask video needs exactly one frame per frame of the input", settings="masks",
            )
        # Only the size is checked here: the reader scales each frame on decoding.
        _, warning = fit_mask(torch.zeros(1, 1, info.height, info.width), self.size,
                              _named(where, "mask video", path))
        self.warnings += [warning] if warning else []
        if Fraction(info.fps) != Fraction(self.video.fps):
            self.warnings.append(
                f"mask video {path} runs at {float(info.fps):g} fps but the video at {float(self.video.fps):g} fps: "
                "its frames are used by number, frame for frame"
            )
        self.videos[name] = info
        return name


def _named(where: str, what: str, path: Path) -> str:
    return f"{where}: {what} {path}" if where else f"{what} {path}"


class MaskedReader:
    """The input's :class:`~vidstyle.video.FrameReader` with the mask videos decoded in step.

    Each mask video is read over the input's frame range, at the input's size
    (FFmpeg's area scaler when it differs), batch for batch with the input,
    into each batch's ``masks``; a frame missing on either side is a
    :class:`~vidstyle.errors.RenderError`. A context manager, like the reader it wraps.
    """

    def __init__(self, reader: FrameReader, videos: Mapping[str, VideoInfo]) -> None:
        self.reader = reader
        rng: FrameRange = reader.range
        size = (reader.info.width, reader.info.height)
        span = Span() if rng.whole else Span(frames=(rng.first, rng.stop))
        self.masks = {
            name: FrameReader(info.path, span, info=info, scale_to=None if (info.width, info.height) == size else size)
            for name, info in videos.items()
        }

    @property
    def range(self) -> FrameRange:
        return self.reader.range

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

    def iter_batches(self, batch_size: int) -> Iterator[FrameBatch]:
        its = {name: r.iter_batches(batch_size) for name, r in self.masks.items()}
        try:
            for batch in self.reader.iter_batches(batch_size):
                for name, it in its.items():
                    got = next(it, None)
                    if got is None or got.indices != batch.indices:
                        at = batch.indices[0] if got is None else next(
                            (a for a, b in zip(batch.indices, got.indices) if a != b), batch.indices[-1])
                        raise RenderError(f"mask video {name} has no frame {at} to go with the input's")
                    batch.masks[name] = _grey(got.rgb)
                yield batch
        finally:
            for it in its.values():
                it.close()
