"""Video files in and out: the only package that opens a video container.

In the order a render meets them:

- :mod:`~vidstyle.video.probe`: what a video is (:func:`probe` -> :class:`VideoInfo`)
  and how many frames it has, exactly (:func:`count_frames`, :func:`frame_timestamps`).
- :mod:`~vidstyle.video.ranges`: time codes (:func:`parse_time`,
  :func:`format_timecode`) and where a :class:`~vidstyle.settings.Span` falls on
  the frames (:func:`resolve_range` -> :class:`FrameRange`).
- :mod:`~vidstyle.video.reader`: :class:`FrameReader` decodes into
  :class:`FrameBatch` es of float RGB ``(B, 3, H, W)`` in [0, 1]
  (:func:`frames_to_tensor`, the one way in).
- :mod:`~vidstyle.video.writer`: :class:`FrameWriter` encodes them back
  (:func:`tensor_to_frames`, the one way out), with the encoder tables of
  :mod:`~vidstyle.video.codecs` and the audio of :mod:`~vidstyle.video.audio`.

- :mod:`~vidstyle.video.sequence`: numbered image sequences (EXR, DPX, PNG,
  TIFF): :func:`probe` and :class:`FrameReader` read them as they read a video;
  :class:`SequenceWriter` writes them; :func:`writer_for` picks the writer a
  destination asks for.

Joining rendered chunks by stream copy is the farm's (:mod:`vidstyle.farm.join`).
"""
from __future__ import annotations

from .codecs import available_codecs, default_output_path
from .probe import AudioStreamInfo, ColorInfo, VideoInfo, count_frames, frame_timestamps, probe
from .ranges import FrameRange, format_smpte, format_timecode, parse_frame_range, parse_time, resolve_range
from .reader import FrameBatch, FrameReader, frames_to_tensor
from .writer import FrameWriter, tensor_to_frames
from .sequence import ImageSequence, SequenceWriter, default_sequence_output, is_sequence_path, writer_for

__all__ = [
    "AudioStreamInfo", "ColorInfo", "VideoInfo", "probe", "count_frames", "frame_timestamps",
    "FrameRange", "parse_time", "format_timecode", "format_smpte", "parse_frame_range", "resolve_range",
    "FrameBatch", "FrameReader", "frames_to_tensor",
    "FrameWriter", "tensor_to_frames", "available_codecs", "default_output_path",
    "ImageSequence", "SequenceWriter", "default_sequence_output", "is_sequence_path", "writer_for",
]
