"""Numbered image sequences in and out: EXR, DPX, PNG and TIFF, as compositors and farms move shots.

A sequence is named by a pattern: ``plate.%04d.exr`` (printf, as FFmpeg
writes it) or ``plate.####.exr`` (one ``#`` per digit, as Nuke and farm tools
write it); ``%d`` and ``#`` mean no padding. Its frames are the files of that
folder whose names the pattern makes, numbered from whatever the first one is
(a sequence starting at 1001 keeps 1001). Frame *indices* count from 0 at the
first file, as for a video, so ``--frames 10:20``, shots and timelines mean
the same thing for both.

Reading (:func:`probe_sequence`, :func:`iter_sequence_frames`): the folder is
scanned once; a missing frame in the middle, or an empty file, is an
:class:`~vidstyle.errors.InputError` before anything renders. Each file is
decoded by FFmpeg's own image decoder (PyAV), whole-file packets, no demuxer.
What FFmpeg gives (checked in ``tests/test_sequence.py``):

======  ===========================================  ==========================================
format  read                                         written
======  ===========================================  ==========================================
EXR     half and float RGB(A); none, RLE, ZIP(S),    half or float RGB, ZIP (16 lines) compressed
        PIZ, PXR24, B44, DWAA, DWAB
DPX     8, 10, 12 and 16-bit RGB                     8, 10, 12 or 16-bit RGB
PNG     8 and 16-bit RGB(A), grey, palette           8 or 16-bit RGB
TIFF    8 and 16-bit RGB(A), grey                    8 or 16-bit RGB
======  ===========================================  ==========================================

EXR files written by the OpenEXR library (3.5) in each of those compressions
decode to OpenEXR's own values (DWAA/DWAB within 0.001), and OpenEXR reads
vidstyle's half-float ZIP EXRs back exactly (checked once, by hand, with the
``OpenEXR`` Python package; the tests read the written header's channel types).
Half floats are read from the planes: FFmpeg's scaler clips them to [0, 1]
on conversion.

The output keeps the input's depth where its format can hold it (a half-float
EXR stays half, a 10-bit DPX 10-bit, a 16-bit PNG 16-bit; a float EXR to PNG
becomes 16-bit, an 8-bit video to EXR half). Alpha is not kept (the model
paints RGB), with a warning.

Colour (:data:`~vidstyle.settings.SequenceSettings.transfer`): the network was
trained on display-referred pictures in [0, 1]. EXR is scene-linear by
convention, so its values are encoded with the sRGB curve (IEC 61966-2-1)
after clipping to [0, 1] (highlights above 1.0 and negative values are lost:
the painting replaces them anyway), and a linear output is decoded back with
the inverse curve. Primaries are not converted: footage in ACES (AP0/AP1)
should be converted to linear Rec.709/sRGB primaries first. DPX, PNG and TIFF
are taken as display-referred code values as they are (a log DPX is painted
as the log picture it is). ``transfer="display"`` says an EXR already holds
display-referred values; ``"linear"`` that every sequence is scene-linear.

Writing (:class:`SequenceWriter`): frames go into a hidden folder beside the
destination and are renamed into place only when every frame was written and
counted; the input's frames are never touched. The output's frame numbers are
the input's (a video's frames are numbered from 1, as FFmpeg does).
"""
from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
import torch

from ..errors import InputError, OutputError, RenderError, SettingsError
from ..settings import EncodeSettings, SequenceSettings
from .probe import ColorInfo, VideoInfo
from .ranges import FrameRange, whole_range
from .writer import WriterContext, output_error

__all__ = [
    "SEQUENCE_FORMATS", "DEFAULT_FPS", "SequencePattern", "ImageSequence", "parse_pattern", "is_sequence_path",
    "scan_sequence", "probe_sequence", "iter_sequence_frames", "SequenceWriter", "default_sequence_output",
    "srgb_encode", "srgb_decode", "transfer_of", "writer_for", "output_frames", "partial_prefix", "sequence_name",
]

# Extension -> FFmpeg image codec, for reading and writing.
SEQUENCE_FORMATS = {".exr": "exr", ".dpx": "dpx", ".png": "png", ".tif": "tiff", ".tiff": "tiff"}
# What a sequence without a stated rate plays at (Nuke's default; FFmpeg's image2 says 25).
DEFAULT_FPS = Fraction(24)
# The first file number of a sequence made from a video (FFmpeg's image2 muxer starts at 1).
VIDEO_FIRST_NUMBER = 1

_range = range  # SequenceWriter takes a ``range`` argument, as FrameWriter does
_PRINTF = re.compile(r"%(0\d+)?d")
_HASHES = re.compile(r"#+")


# --------------------------------------------------------------------------- #
# Names
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class SequencePattern:
    """Where the frames of a sequence are and how their names are made.

    >>> p = parse_pattern("shots/plate.####.exr")
    >>> p.name(1001), p.match("plate.1001.exr"), p.match("plate.01001.exr")
    ('plate.1001.exr', 1001, None)
    """

    folder: Path
    prefix: str
    suffix: str
    padding: int  # least number of digits (0: none)
    text: str  # the pattern as given
    token: str = "%04d"  # the frame-number field as written: "%04d", "%d", "####"

    @property
    def extension(self) -> str:
        return os.path.splitext(f"x{self.suffix}")[1].lower()

    def codec(self, setting: str) -> str:
        """The FFmpeg image codec of the frames; SettingsError naming ``setting`` for other formats."""
        codec = SEQUENCE_FORMATS.get(self.extension)
        if codec is None:
            raise SettingsError(
                f"{self.text}: image sequences are EXR, DPX, PNG or TIFF (.exr .dpx .png .tif .tiff), "
                f"not {self.extension or 'files without an extension'}", settings=setting,
            )
        return codec

    def name(self, number: int) -> str:
        return f"{self.prefix}{number:0{self.padding}d}{self.suffix}" if self.padding else \
            f"{self.prefix}{number}{self.suffix}"

    def path(self, number: int) -> Path:
        return self.folder / self.name(number)

    def match(self, filename: str) -> int | None:
        """The frame number of ``filename``, or None when the pattern would not make that name."""
        if not (filename.startswith(self.prefix) and filename.endswith(self.suffix)):
            return None
        digits = filename[len(self.prefix): len(filename) - len(self.suffix)]
        if not digits.isdigit() or not digits.isascii():
            return None
        number = int(digits)
        # Only the name the pattern itself makes: "plate.01001.exr" is not frame 1001 of plate.####.exr.
        return number if self.name(number) == filename else None

    def same_as(self, other: SequencePattern) -> bool:
        return (self.folder.resolve(), self.prefix, self.suffix, self.padding) == (
            other.folder.resolve(), other.prefix, other.suffix, other.padding)


def parse_pattern(path: str | os.PathLike[str]) -> SequencePattern | None:
    """The :class:`SequencePattern` of ``path`` if its file name holds ``%04d``/``%d`` or ``####``, else None.

    Raises:
        SettingsError: the name holds more than one frame-number field.
    """
    path = Path(path)
    name = path.name
    fields = [m for m in (*_PRINTF.finditer(name), *_HASHES.finditer(name))]
    if not fields:
        return None
    if len(fields) > 1:
        raise SettingsError(f"{path}: an image sequence name holds one frame number (%04d or ####), "
                            f"this one has {len(fields)}", settings=("input", "output"))
    m = fields[0]
    if m.group(0).startswith("%"):
        padding = int(m.group(1)) if m.group(1) else 0
    else:
        padding = len(m.group(0)) if len(m.group(0)) > 1 else 0
    return SequencePattern(path.parent, name[: m.start()], name[m.end():], padding, str(path), m.group(0))


def sequence_name(path: str | os.PathLike[str]) -> str:
    """A sequence's name, for what is named after it: its prefix without the separator.

    >>> sequence_name("plates/sh010_comp.####.exr"), sequence_name("a_%04d.png")
    ('sh010_comp', 'a')
    """
    p = parse_pattern(path)
    return p.prefix.rstrip("._-") if p is not None else Path(path).stem


def is_sequence_path(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names an image sequence (its file name holds ``%04d``, ``%d`` or ``#``)."""
    name = Path(path).name
    return bool(_PRINTF.search(name) or "#" in name)


def transfer_of(codec: str, setting: str) -> str:
    """``"linear"`` or ``"display"``: what the values of a sequence in ``codec`` are, for a transfer setting.

    >>> transfer_of("exr", "auto"), transfer_of("png", "auto"), transfer_of("exr", "display")
    ('linear', 'display', 'display')
    """
    if setting == "auto":
        return "linear" if codec == "exr" else "display"
    return setting


# --------------------------------------------------------------------------- #
# Colour: the sRGB curve (IEC 61966-2-1), in both directions
# --------------------------------------------------------------------------- #


def srgb_encode(linear: np.ndarray) -> np.ndarray:
    """Scene-linear -> display-referred values in [0, 1]: clipped, then the sRGB curve.

    >>> [round(float(v), 4) for v in srgb_encode(np.array([0.0, 0.18, 1.0, 4.0]))]
    [0.0, 0.4614, 1.0, 1.0]
    """
    # float64 inside, so that 1.0 comes out as exactly 1.0.
    x = np.clip(np.nan_to_num(linear.astype(np.float64), nan=0.0, posinf=1.0, neginf=0.0), 0.0, 1.0)
    y = np.where(x <= 0.0031308, 12.92 * x, 1.055 * np.power(x, 1 / 2.4) - 0.055)
    return np.clip(y, 0.0, 1.0).astype(np.float32)


def srgb_decode(display: np.ndarray) -> np.ndarray:
    """Display-referred values in [0, 1] -> scene-linear: the inverse of :func:`srgb_encode`."""
    v = np.clip(display.astype(np.float64), 0.0, 1.0)
    return np.clip(np.where(v <= 0.04045, v / 12.92, np.power((v + 0.055) / 1.055, 2.4)), 0.0, 1.0).astype(np.float32)


# --------------------------------------------------------------------------- #
# Reading
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ImageSequence:
    """A scanned sequence: its pattern, its frame numbers (consecutive), and what its pixels are.

    ``sample`` is ``"uint8"``, ``"uint10"``, ``"uint12"``, ``"uint16"``,
    ``"half"`` or ``"float"``; ``transfer`` is ``"linear"`` or ``"display"``.
    ``warnings`` are for the render's result (a rate assumed, alpha dropped).
    """

    pattern: SequencePattern
    first: int
    count: int
    codec: str
    sample: str
    transfer: str
    warnings: tuple[str, ...] = ()

    @property
    def last(self) -> int:
        return self.first + self.count - 1

    def number(self, index: int) -> int:
        """The file number of frame ``index`` (0-based)."""
        return self.first + index

    def file(self, index: int) -> Path:
        return self.pattern.path(self.number(index))


def scan_sequence(pattern: SequencePattern) -> tuple[int, int]:
    """``(first number, frame count)`` of the files a pattern names, checked to leave no gap.

    Raises:
        InputError: no such folder, no frame, a frame missing in the middle or an empty frame file.
    """
    folder = pattern.folder
    if not folder.is_dir():
        raise InputError(f"{pattern.text}: folder {folder} does not exist", settings="input")
    numbers: dict[int, int] = {}
    with os.scandir(folder) as entries:
        for entry in entries:
            n = pattern.match(entry.name)
            if n is not None and entry.is_file():
                numbers[n] = entry.stat().st_size
    if not numbers:
        raise InputError(f"{pattern.text}: no frame in {folder} has a name of this pattern "
                         f"(e.g. {pattern.name(1)})", settings="input")
    first, last = min(numbers), max(numbers)
    missing = [n for n in range(first, last + 1) if n not in numbers]
    if missing:
        shown = ", ".join(map(str, missing[:5])) + (f" and {len(missing) - 5} more" if len(missing) > 5 else "")
        raise InputError(
            f"{pattern.text}: frame{'s' if len(missing) > 1 else ''} {shown} of {first}-{last} "
            f"{'are' if len(missing) > 1 else 'is'} missing ({pattern.name(missing[0])}): a sequence must have "
            "every frame; render it again, or render the frames on either side of the gap as separate sequences",
            settings="input",
        )
    empty = [n for n, size in sorted(numbers.items()) if size == 0]
    if empty:
        raise InputError(f"{pattern.text}: {pattern.name(empty[0])} is empty (an unfinished render?)",
                         settings="input")
    return first, last - first + 1


def _decode_file(path: Path, codec: str) -> av.VideoFrame:
    """One image file, decoded by FFmpeg's image decoder (the whole file is one packet)."""
    try:
        data = path.read_bytes()
    except OSError as exc:
        raise RenderError(f"cannot read {path}: {exc.strerror or exc}") from None
    try:
        ctx = av.CodecContext.create(codec, "r")
        frames = ctx.decode(av.Packet(data)) + ctx.decode(None)
    except av.error.FFmpegError as exc:
        raise RenderError(f"{path} does not decode as {codec.upper()} ({exc}); the file is damaged") from None
    if not frames:
        raise RenderError(f"{path} does not decode as {codec.upper()}; the file is damaged or truncated")
    return frames[0]


def _sample_of(fmt: av.VideoFormat) -> str:
    if "f16" in fmt.name:
        return "half"
    if "f32" in fmt.name:
        return "float"
    bits = max((c.bits for c in fmt.components), default=8)
    return f"uint{8 if bits <= 8 else 10 if bits <= 10 else 12 if bits <= 12 else 16}"


def _float_rgb(frame: av.VideoFrame) -> np.ndarray:
    """The RGB planes of a float frame, exactly as stored: ``(H, W, 3)`` float32.

    Read from the planes because FFmpeg's scaler clips half floats to [0, 1]
    on conversion (measured: a 1.27 came back as 1.0), and scene-linear
    values above 1 matter here until the transfer curve clips them on purpose.
    """
    dtype = np.float16 if "f16" in frame.format.name else np.float32
    item = np.dtype(dtype).itemsize
    planes = [np.frombuffer(p, dtype).reshape(frame.height, p.line_size // item)[:, : frame.width]
              for p in frame.planes]
    if frame.format.name.startswith("gray"):
        return np.repeat(planes[0][..., None], 3, axis=2).astype(np.float32)
    g, b, r = planes[0], planes[1], planes[2]  # gbrp(a)f: planes are stored G, B, R (A)
    return np.stack([r, g, b], axis=-1).astype(np.float32)


def _has_alpha(fmt: av.VideoFormat) -> bool:
    return fmt.name.startswith(("gbrap", "rgba", "bgra", "argb", "abgr", "ya", "yuva")) or "a64" in fmt.name


def probe_sequence(path: str | os.PathLike[str], settings: SequenceSettings = SequenceSettings()) -> VideoInfo:
    """What a sequence is, as a :class:`~vidstyle.video.VideoInfo` (with ``sequence`` set).

    The folder is scanned (every frame must be there) and the first frame is
    decoded. Frame ``i`` has timestamp ``i`` in a time base of ``1 / fps``.

    Raises:
        InputError: see :func:`scan_sequence`; the first frame does not decode.
        SettingsError: not a pattern, or a format vidstyle does not read.
    """
    pattern = parse_pattern(path)
    if pattern is None:
        raise SettingsError(f"{path} is not an image sequence pattern (plate.%04d.exr or plate.####.exr)",
                            settings="input")
    codec = pattern.codec("input")
    first, count = scan_sequence(pattern)
    try:
        frame = _decode_file(pattern.path(first), codec)
    except RenderError as exc:
        raise InputError(str(exc), settings="input") from None
    warnings = []
    fps = settings.fps
    if fps is None:
        fps = DEFAULT_FPS
        warnings.append(f"{pattern.text} has no frame rate: {DEFAULT_FPS} fps assumed (set the frame rate to change it)")
    if _has_alpha(frame.format):
        warnings.append(f"{pattern.text} has an alpha channel: the output has none (the model paints RGB)")
    sample = _sample_of(frame.format)
    seq = ImageSequence(pattern, first, count, codec, sample, transfer_of(codec, settings.transfer), tuple(warnings))
    fps = Fraction(fps)
    bits = {"half": 16, "float": 32}.get(sample) or int(sample[4:])
    return VideoInfo(
        path=Path(pattern.text), container="image2", codec=codec, pix_fmt=frame.format.name,
        width=frame.width, height=frame.height, fps=fps, time_base=1 / fps, start_pts=0,
        frame_count=count, frame_count_exact=True, duration=float(count / fps), rotation=0,
        sample_aspect_ratio=None, color=ColorInfo(), bit_depth=bits, sequence=seq,
    )


def _to_array(frame: av.VideoFrame, seq: ImageSequence, scale_to: tuple[int, int] | None) -> np.ndarray:
    """A decoded frame as the reader hands it on: uint8/uint16 RGB, or float32 display-referred RGB."""
    if seq.sample in ("half", "float"):
        rgb = _float_rgb(frame)
        arr = srgb_encode(rgb) if seq.transfer == "linear" else np.clip(np.nan_to_num(rgb), 0.0, 1.0)
    else:
        fmt = "rgb24" if seq.sample == "uint8" else "rgb48le"
        arr = frame.to_ndarray(format=fmt)
        if seq.transfer == "linear":
            arr = srgb_encode(arr.astype(np.float32) / (255.0 if fmt == "rgb24" else 65535.0))
    if scale_to is not None and (arr.shape[1], arr.shape[0]) != tuple(scale_to):
        import torch.nn.functional as F

        t = torch.from_numpy(np.ascontiguousarray(arr).astype(np.float32)).permute(2, 0, 1)[None]
        w, h = scale_to
        # Area averaging, as FFmpeg's scaler does for videos.
        arr = F.interpolate(t, size=(h, w), mode="area")[0].permute(1, 2, 0).numpy()
        if seq.sample.startswith("uint") and seq.transfer == "display":  # still in code values
            arr = (arr / (255.0 if seq.sample == "uint8" else 65535.0)).astype(np.float32)
    return arr


def iter_sequence_frames(
    info: VideoInfo, rng: FrameRange, scale_to: tuple[int, int] | None = None,
) -> Iterator[tuple[int, int, float, np.ndarray]]:
    """``(index, pts, seconds, array)`` of the frames ``rng`` of a sequence, in order.

    Arrays are ``(H, W, 3)`` uint8 or uint16 RGB for display-referred integer
    frames, else float32 display-referred RGB in [0, 1] (scene-linear frames
    already through :func:`srgb_encode`); :func:`vidstyle.video.frames_to_tensor`
    takes either.

    Raises:
        RenderError: a file is gone, damaged, or of another size than the first frame.
    """
    seq: ImageSequence = info.sequence
    stop = seq.count if rng.stop is None else rng.stop
    for index in range(rng.first, stop):
        path = seq.file(index)
        if not path.is_file():
            raise RenderError(f"{path} (frame {index} of {seq.pattern.text}) disappeared during the render")
        frame = _decode_file(path, seq.codec)
        if (frame.width, frame.height) != (info.width, info.height):
            raise RenderError(f"{path} is {frame.width}x{frame.height} but {seq.pattern.text} is "
                              f"{info.width}x{info.height}: every frame of a sequence must have one size")
        if _sample_of(frame.format) != seq.sample:
            raise RenderError(f"{path} holds {_sample_of(frame.format)} pixels but {seq.pattern.name(seq.first)} "
                              f"{seq.sample}: every frame of a sequence must have one format")
        yield index, index, float(index / info.fps), _to_array(frame, seq, scale_to)


def default_sequence_output(input: str | os.PathLike[str]) -> Path:
    """Where a render of a sequence goes by default: ``<prefix>_styled`` beside it, same numbering and format.

    >>> default_sequence_output("shots/plate.####.exr"), default_sequence_output("a_%04d.png")
    (PosixPath('shots/plate_styled.####.exr'), PosixPath('a_styled_%04d.png'))
    """
    p = parse_pattern(input)
    if p is None:
        raise SettingsError(f"{input} is not an image sequence pattern", settings="input")
    stem = sequence_name(input)
    sep = p.prefix[len(stem):]
    return p.folder / f"{stem}_styled{sep}{p.token}{p.suffix}"


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #


def _output_sample(codec: str, like: VideoInfo) -> str:
    """The sample type an output in ``codec`` gets: the input's, or the nearest the format holds."""
    src = like.sequence.sample if like.sequence is not None else (
        "uint8" if like.bit_depth <= 8 else "uint10" if like.bit_depth <= 10 else
        "uint12" if like.bit_depth <= 12 else "uint16")
    if codec == "exr":
        return "float" if src == "float" else "half"
    if codec == "dpx":
        return "uint16" if src in ("half", "float") else src
    return "uint8" if src == "uint8" else "uint16"  # png, tiff


# codec -> sample -> (encoder pixel format, the array format frames are made from)
_PIXELS = {
    "png": {"uint8": ("rgb24", "rgb24"), "uint16": ("rgb48be", "rgb48le")},
    "tiff": {"uint8": ("rgb24", "rgb24"), "uint16": ("rgb48le", "rgb48le")},
    "dpx": {"uint8": ("rgb24", "rgb24"), "uint10": ("gbrp10le", "gbrp10le"), "uint12": ("gbrp12le", "gbrp12le"),
            "uint16": ("rgb48le", "rgb48le")},
    "exr": {"half": ("gbrpf32le", "gbrpf32le"), "float": ("gbrpf32le", "gbrpf32le")},
}
_MAX = {"uint8": 255, "uint10": 1023, "uint12": 4095, "uint16": 65535}


class SequenceWriter(WriterContext):
    """Write frames as a numbered image sequence, keeping the input's frame numbers and depth.

    The same contract as :class:`~vidstyle.video.FrameWriter`: a context
    manager; :meth:`write` takes consecutive frames ``(B, 3, H, W)`` in [0, 1];
    :meth:`close` checks the count and only then renames the frames from a
    hidden folder beside the destination into place; any error (or Ctrl-C)
    removes that folder and leaves the destination as it was. A frame that
    exists is replaced only with ``overwrite``; input frames never are.

    Args:
        dest: a pattern (``out.%04d.exr``, ``out.####.png``); its extension picks the format.
        like: the input's :class:`VideoInfo`.
        encode: ignored but checked (video encoder settings have no meaning for images: a warning).
        range: the frames being rendered (their numbers are the input's).
        audio: an image sequence holds no audio: a warning when the input has some.
        sequence: ``transfer`` decides whether an output is scene-linear.
    """

    def __init__(
        self,
        dest: str | os.PathLike[str],
        like: VideoInfo,
        encode: EncodeSettings = EncodeSettings(),
        *,
        overwrite: bool = False,
        range: FrameRange | None = None,
        expected_frames: int | None = None,
        audio: bool = True,
        sequence: SequenceSettings = SequenceSettings(),
    ) -> None:
        pattern = parse_pattern(dest)
        if pattern is None:
            raise SettingsError(f"{dest} is not an image sequence pattern (out.%04d.exr or out.####.exr)",
                                settings="output")
        self.pattern = pattern
        self.dest = Path(dest)
        self.like = like
        self.codec = pattern.codec("output")
        if self.codec not in av.codecs_available:
            raise SettingsError(f"this FFmpeg build cannot write {self.codec.upper()} images", settings="output")
        self.sample = _output_sample(self.codec, like)
        self.transfer = transfer_of(self.codec, sequence.transfer)
        self.range = range if range is not None else whole_range(like)
        # As FrameWriter: a cut range is a promise; so is a whole sequence (its files were counted);
        # a whole video's container count is not (the render sets the count it decoded).
        if expected_frames is not None:
            self.expected_frames: int | None = expected_frames
        elif not self.range.whole:
            self.expected_frames = self.range.count
        else:
            self.expected_frames = like.frame_count if like.sequence is not None else None
        self.overwrite = overwrite
        self.first_number = like.sequence.first if like.sequence is not None else VIDEO_FIRST_NUMBER
        self.warnings: list[str] = []
        self.frames_written = 0
        self.written: list[Path] = []  # final paths, in order, once closed
        self._tmp: Path | None = None
        self._names: list[str] = []
        self._ctx: av.codec.context.CodecContext | None = None
        self._closed = False
        if encode != EncodeSettings():
            self.warnings.append("codec, crf, preset and pixel format are for video files: an image sequence "
                                 f"is written as {self.codec.upper()} ({self.sample})")
        if like.rotation:
            self.warnings.append(f"{like.path.name} is shown rotated by {like.rotation} degrees: its frames are "
                                 "written as stored (images carry no rotation)")
        if audio and like.audio:
            self.warnings.append(f"an image sequence holds no audio: the audio of {like.path.name} is not copied")
        self._check_destination()

    # -- names -------------------------------------------------------------- #

    def number(self, index: int) -> int:
        """The output file number of input frame ``index``."""
        return self.first_number + index

    def _planned(self) -> list[int]:
        """The input frames this writer will write, when known before rendering."""
        stop = self.range.stop if self.range.stop is not None else (
            self.like.frame_count if self.like.frame_count_exact else None)
        return [] if stop is None else list(_range(self.range.first, stop))

    def _check_destination(self) -> None:
        folder = self.pattern.folder
        if not folder.exists():
            raise OutputError(f"cannot write {self.dest}: folder {folder} does not exist", settings="output")
        if not folder.is_dir():
            raise OutputError(f"cannot write {self.dest}: {folder} is not a folder", settings="output")
        src = self.like.sequence
        if src is not None and src.pattern.same_as(self.pattern):
            raise OutputError(f"the output {self.dest} names the input's own frames; choose another output",
                              settings="output")
        for index in self._planned():
            self._check_frame(index)

    def _check_frame(self, index: int) -> None:
        path = self.pattern.path(self.number(index))
        src = self.like.sequence
        if src is not None:
            n = src.pattern.match(path.name) if src.pattern.folder.resolve() == path.parent.resolve() else None
            if n is not None and src.first <= n <= src.last:
                raise OutputError(f"the output frame {path} would replace a frame of the input; choose another output",
                                  settings="output")
        if path.is_dir():
            raise OutputError(f"cannot write {path}: it is a folder", settings="output")
        if path.exists() and not self.overwrite:
            raise OutputError(f"{path} already exists; allow overwriting to replace the frames of {self.dest.name}",
                              settings="overwrite")

    # -- lifecycle ---------------------------------------------------------- #

    def open(self) -> None:
        """Create the hidden folder the frames are written into, and the encoder."""
        try:
            # Named by the frames it holds, so a farm chunk's next attempt can find a killed one's leftovers.
            self._tmp = Path(tempfile.mkdtemp(prefix=partial_prefix(self.pattern, self.range.first, self.range.stop),
                                              dir=self.pattern.folder))
        except OSError as exc:
            raise OutputError(f"cannot write into {self.pattern.folder}: {exc.strerror or exc}") from None
        try:
            pix_fmt, _ = _PIXELS[self.codec][self.sample]
            ctx = av.CodecContext.create(self.codec, "w")
            ctx.width, ctx.height, ctx.pix_fmt = self.like.width, self.like.height, pix_fmt
            ctx.time_base = self.like.time_base
            if self.codec == "exr":
                ctx.options = {"format": self.sample, "compression": "zip16"}
            ctx.open()
            self._ctx = ctx
        except BaseException:
            self.abort()
            raise

    def _frame(self, rgb: np.ndarray) -> av.VideoFrame:
        """``(H, W, 3)`` float display-referred in [0, 1] -> an FFmpeg frame in the output's format."""
        pix_fmt, arr_fmt = _PIXELS[self.codec][self.sample]
        x = srgb_decode(rgb) if self.transfer == "linear" else rgb
        if self.sample in ("half", "float"):
            frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(x, dtype=np.float32), format=arr_fmt)
        else:
            top = _MAX[self.sample]
            ints = np.rint(np.clip(x, 0.0, 1.0) * top).astype(np.uint8 if top == 255 else np.uint16)
            frame = av.VideoFrame.from_ndarray(ints, format=arr_fmt)
        return frame if frame.format.name == pix_fmt else frame.reformat(format=pix_fmt)

    def write(self, indices: Sequence[int], pts: Sequence[int | None], rgb: torch.Tensor) -> None:
        """Write a batch of consecutive frames, each to its own file.

        Shape:
            ``rgb``: ``(B, 3, H, W)`` float in [0, 1], at the input's size.
        """
        if self._ctx is None or self._tmp is None:
            raise RuntimeError("SequenceWriter must be opened (use it as a context manager)")
        self.check_batch(indices, rgb)
        arrays = rgb.detach().to("cpu", torch.float32).clamp(0.0, 1.0).permute(0, 2, 3, 1).numpy()
        for index, arr in zip(indices, arrays):
            self.check_next(index)
            if self.expected_frames is None:  # a video of unknown length: check each frame as it comes
                self._check_frame(index)
            try:
                packets = self._ctx.encode(self._frame(arr))
            except av.error.FFmpegError as exc:
                raise RenderError(f"the {self.codec.upper()} encoder failed on frame {index}: {exc}") from exc
            if len(packets) != 1:
                raise RenderError(f"the {self.codec.upper()} encoder gave {len(packets)} images for frame {index}")
            name = self.pattern.name(self.number(index))
            try:
                (self._tmp / name).write_bytes(bytes(packets[0]))
            except OSError as exc:
                raise output_error(self.pattern.folder / name, exc) from exc
            self._names.append(name)
            self.frames_written += 1

    def close(self) -> Path:
        """Check the count, then rename every frame into place; returns the pattern."""
        if self._closed:
            return self.dest
        if self._tmp is None:
            raise RuntimeError("SequenceWriter was never opened")
        try:
            if self.frames_written == 0:
                raise RenderError("no frame was written")
            if self.expected_frames is not None and self.frames_written != self.expected_frames:
                raise RenderError(f"wrote {self.frames_written} frames but the range has {self.expected_frames}")
            first = self.range.first
            for index in _range(first, first + self.frames_written):  # appeared while rendering?
                self._check_frame(index)
            folder = self.pattern.folder
            for name in self._names:
                os.replace(self._tmp / name, folder / name)
            self.written = [folder / name for name in self._names]
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None
            self._closed = True
            return self.dest
        except OSError as exc:
            self.abort()
            raise OutputError(f"cannot move the frames of {self.dest} into place: {exc.strerror or exc}") from None
        except BaseException:
            self.abort()
            raise

    def abort(self) -> None:
        """Stop without output: the hidden folder and every frame in it are removed."""
        self._closed = True
        self._ctx = None
        if self._tmp is not None:
            shutil.rmtree(self._tmp, ignore_errors=True)
            self._tmp = None



def partial_prefix(pattern: SequencePattern, first: int, stop: int | None) -> str:
    """The name start of the hidden folder a :class:`SequenceWriter` of input frames ``[first, stop)`` writes into."""
    return f".{pattern.prefix}partial-{first}-{'end' if stop is None else stop}-"


def output_frames(dest: str | os.PathLike[str], like: VideoInfo, first: int, stop: int) -> list[Path]:
    """The files a :class:`SequenceWriter` to ``dest`` writes for input frames ``[first, stop)``."""
    pattern = parse_pattern(dest)
    if pattern is None:
        raise SettingsError(f"{dest} is not an image sequence pattern", settings="output")
    start = like.sequence.first if like.sequence is not None else VIDEO_FIRST_NUMBER
    return [pattern.path(start + i) for i in _range(first, stop)]


def writer_for(
    dest: str | os.PathLike[str],
    like: VideoInfo,
    encode: EncodeSettings = EncodeSettings(),
    *,
    overwrite: bool = False,
    range: FrameRange | None = None,
    audio: bool = True,
    sequence: SequenceSettings = SequenceSettings(),
):
    """The writer a destination asks for: a :class:`SequenceWriter` for a pattern, else a video's
    :class:`~vidstyle.video.FrameWriter` (with the input's audio unless ``audio`` is False or the
    input is a sequence, which has none).

    Raises:
        SettingsError: an image file name without a frame number (``out.exr``).
    """
    from .writer import FrameWriter

    if is_sequence_path(dest):
        return SequenceWriter(dest, like, encode, overwrite=overwrite, range=range, audio=audio, sequence=sequence)
    path = Path(dest)
    if path.suffix.lower() in SEQUENCE_FORMATS:
        raise SettingsError(
            f"{path.name} is one image: to write an image sequence, put the frame number in the name "
            f"({path.stem}.%04d{path.suffix} or {path.stem}.####{path.suffix})", settings="output",
        )
    return FrameWriter(dest, like, encode, overwrite=overwrite, range=range,
                       audio=audio and like.sequence is None)
