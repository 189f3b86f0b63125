"""Encoding: frames back into a video file, with the input's clock, colour and audio.

:func:`tensor_to_frames` is the one way back from float RGB to ``uint8``.
:class:`FrameWriter` keeps every frame's timestamp, copies the audio for the
rendered range (:class:`~vidstyle.video.audio.AudioPassthrough`), and renames
its temporary file onto the destination only once the frame count is verified.
"""
from __future__ import annotations

import errno
import os
from collections.abc import Sequence
from fractions import Fraction
from pathlib import Path

import av
import av.error
import numpy as np
import torch

from ..errors import OutputError, RenderError, SettingsError
from ..outputs import check_destination, commit, temporary_beside
from ..settings import EncodeSettings
from .audio import AudioPassthrough
from .codecs import PRESETS, codec_spec, container_for, encoder_options
from .probe import VideoInfo
from .ranges import FrameRange, whole_range

__all__ = ["FrameWriter", "WriterContext", "tensor_to_frames", "output_error"]


def tensor_to_frames(rgb: torch.Tensor) -> np.ndarray:
    """Float RGB in [0, 1] to ``uint8`` arrays for encoding, rounding to nearest.

    Shape:
        ``(B, 3, H, W)`` -> ``(B, H, W, 3)`` uint8.
    """
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise RenderError(f"frames to write must be (B, 3, H, W); got {tuple(rgb.shape)}")
    # In numpy, for the reason frames_to_tensor gives: the writer's thread
    # must not start torch intra-op threads beside the model.
    a = np.clip(rgb.detach().to("cpu", torch.float32).numpy(), 0.0, 1.0)
    a *= 255.0
    np.rint(a, out=a)  # half to even, as torch.round
    out = np.empty((a.shape[0], *a.shape[2:], 3), np.uint8)
    out[...] = a.transpose(0, 2, 3, 1)
    return out


class WriterContext:
    """The writers' contract as a context manager: :meth:`open` on entry; on leaving, :meth:`close`
    (verify, then move into place) if the block succeeded, else :meth:`abort` (nothing at the destination).
    """

    def open(self) -> None:
        raise NotImplementedError

    def close(self) -> Path:
        raise NotImplementedError

    def abort(self) -> None:
        raise NotImplementedError

    def __enter__(self):
        self.open()
        return self

    def __exit__(self, exc_type, exc, tb) -> None:
        if exc_type is None:
            self.close()
        else:
            self.abort()

    # What every writer checks of what it is given (it has ``like``, ``range`` and ``frames_written``).

    def check_batch(self, indices: Sequence[int], rgb: torch.Tensor) -> None:
        """A batch must be ``(len(indices), 3, H, W)`` at the input's size."""
        like = self.like
        if rgb.ndim != 4 or tuple(rgb.shape[1:]) != (3, like.height, like.width) or rgb.shape[0] != len(indices):
            raise RenderError(
                f"frames to write must be ({len(indices)}, 3, {like.height}, {like.width}); got {tuple(rgb.shape)}"
            )

    def check_next(self, index: int) -> None:
        """Frames come in order with none missing: never drop or duplicate a frame silently."""
        want = self.range.first + self.frames_written
        if index != want:
            raise RenderError(f"frame {want} is missing: the writer received frame {index} instead")


class FrameWriter(WriterContext):
    """Encode frames into ``dest``, keeping timestamps, rotation, colour and audio.

    Writes into a hidden temporary file beside ``dest`` and renames it onto
    ``dest`` only when :meth:`close` has verified the frame count; on any error
    (or KeyboardInterrupt) inside the ``with`` block the temporary file is
    removed and ``dest`` is left as it was.

    Args:
        dest: output path; its extension picks the container (.mp4 .mov .mkv .webm).
        like: the input's :class:`VideoInfo` (size, time base, metadata, audio).
        encode: codec, quality, preset and pixel format (:class:`~vidstyle.settings.EncodeSettings`).
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
        encode: EncodeSettings = EncodeSettings(),
        *,
        overwrite: bool = False,
        range: FrameRange | None = None,
        expected_frames: int | None = None,
        audio: bool = True,
    ) -> None:
        self.dest = Path(dest)
        self.like = like
        self.spec = codec_spec(encode.codec)
        self.crf = encode.crf
        # No preset: x264's own default; a render chooses one by device first (vidstyle.render.default_preset).
        self.preset = encode.preset if encode.preset is not None else "medium"
        self.x264_params = encode.x264_params
        self.range = range if range is not None else whole_range(like)
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
        self._passthrough: AudioPassthrough | None = None
        self._closed = False

        self.format = container_for(self.dest)
        self._check_settings(encode.pix_fmt)
        check_destination(self.dest, overwrite=overwrite, inputs=(like.path,))

    def check_batch(self, indices: Sequence[int], rgb: torch.Tensor) -> None:
        """A batch must be ``(len(indices), 3, h, w)``, at the input's size or smaller.

        Smaller frames (the network's working size) are brought to the
        stream's size by FFmpeg's scaler in the conversion to the stream's
        pixel format that every frame goes through anyway: a render at a
        working size below the frame's then never makes a full-size float
        frame (:func:`vidstyle.render.stylize_video`).
        """
        like = self.like
        if (rgb.ndim != 4 or rgb.shape[1] != 3 or rgb.shape[0] != len(indices)
                or not (1 <= rgb.shape[2] <= like.height and 1 <= rgb.shape[3] <= like.width)):
            raise RenderError(
                f"frames to write must be ({len(indices)}, 3, {like.height}, {like.width}) or smaller; "
                f"got {tuple(rgb.shape)}"
            )

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
                f"(or .mkv) for this codec", settings=("codec", "output"),
            )
        if spec.crf_max is not None and not 0 <= self.crf <= spec.crf_max:
            raise SettingsError(f"crf for {spec.encoder} must be between 0 and {spec.crf_max}, got {self.crf}",
                                settings="crf")
        if self.preset not in PRESETS:
            raise SettingsError(f"unknown preset {self.preset!r}; choose one of: {', '.join(PRESETS)}",
                                settings="preset")
        allowed = {f.name for f in (av.Codec(spec.encoder, "w").video_formats or ())}
        odd = self.like.width % 2 or self.like.height % 2
        if pix_fmt is None:
            pix_fmt = spec.pix_fmt
            if odd and "420" in pix_fmt or odd and "422" in pix_fmt:
                if spec.odd_pix_fmt is None:
                    raise SettingsError(
                        f"{spec.encoder} cannot encode the odd frame size {self.like.width}x{self.like.height}; "
                        "use libx264 or libx265", settings="codec",
                    )
                # 4:2:0 halves chroma in both directions, so odd sizes need 4:4:4.
                self.warnings.append(
                    f"odd frame size {self.like.width}x{self.like.height}: encoded as {spec.odd_pix_fmt}, "
                    "which some players cannot show"
                )
                pix_fmt = spec.odd_pix_fmt
        if allowed and pix_fmt not in allowed:
            raise SettingsError(
                f"{spec.encoder} cannot encode pixel format {pix_fmt}; choose one of: {', '.join(sorted(allowed))}",
                settings="pix_fmt",
            )
        try:
            fmt = av.VideoFormat(pix_fmt, self.like.width, self.like.height)
        except ValueError:
            raise SettingsError(f"unknown pixel format {pix_fmt!r}", settings="pix_fmt") from None
        subsampled = any(c.is_chroma and c.width != self.like.width for c in fmt.components) or any(
            c.is_chroma and c.height != self.like.height for c in fmt.components
        )
        if odd and subsampled:
            raise SettingsError(
                f"pixel format {pix_fmt} subsamples colour, which needs an even frame size; "
                f"the video is {self.like.width}x{self.like.height} (try yuv444p)", settings="pix_fmt",
            )
        self.pix_fmt = pix_fmt

    # -- lifecycle ---------------------------------------------------------- #

    def open(self) -> None:
        """Create the temporary file and set up the streams."""
        like = self.like
        tmp = temporary_beside(self.dest)
        self._tmp = tmp
        try:
            self._out = av.open(str(tmp), mode="w", format=self.format)
            options = encoder_options(self.spec, self.crf, self.preset, self.x264_params)
            v = self._out.add_stream(self.spec.encoder, rate=like.fps, options=options)
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
                self._passthrough = AudioPassthrough(like, self._out, self.range, self.format, self.warnings)
        except av.error.FFmpegError as exc:
            self.abort()
            raise SettingsError(f"cannot set up {self.spec.encoder} for {self.dest.name}: {exc}",
                                settings=("codec", "pix_fmt")) from exc
        except BaseException:
            self.abort()
            raise

    def write(self, indices: Sequence[int], pts: Sequence[int | None], rgb: torch.Tensor) -> None:
        """Encode a batch of consecutive frames.

        Args:
            indices: frame indices in the input (checked to follow on, no gaps).
            pts: each frame's timestamp in the input time base (None: from its index).

        Shape:
            ``rgb``: ``(B, 3, H, W)`` float in [0, 1], at the input's size or smaller (:meth:`check_batch`).
        """
        if self._out is None or self._video is None:
            raise RuntimeError("FrameWriter must be opened (use it as a context manager)")
        like = self.like
        self.check_batch(indices, rgb)
        arrays = tensor_to_frames(rgb)
        for i, (index, p, arr) in enumerate(zip(indices, pts, arrays)):
            self.check_next(index)
            out_pts = self._output_pts(index, p)
            if self._last_pts is not None and out_pts <= self._last_pts:
                raise RenderError(
                    f"frame {index} has timestamp {out_pts}, not after the previous frame's {self._last_pts}"
                )
            self._last_pts = out_pts
            frame = av.VideoFrame.from_ndarray(arr, format="rgb24")
            c = like.color
            scaled = arr.shape[:2] != (like.height, like.width)
            frame = frame.reformat(
                width=like.width, height=like.height, interpolation="BICUBIC" if scaled else None,
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
            raise output_error(self.dest, exc) from exc

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
                raise output_error(self.dest, exc) from exc
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


def output_error(dest: Path, exc: BaseException) -> OutputError | RenderError:
    """The error to raise when writing ``dest`` failed with ``exc``: a full disk and OS errors are the output's."""
    code = getattr(exc, "errno", None)
    if code == errno.ENOSPC:
        return OutputError(f"the disk is full while writing {dest}; free some space or choose another folder",
                           settings="output")
    if isinstance(exc, OSError) and not isinstance(exc, av.error.FFmpegError):
        return OutputError(f"cannot write {dest}: {exc}")
    return RenderError(f"writing {dest} failed: {exc}")
