"""The encoders and containers vidstyle writes, and how each is set up.

Tables, not logic: which extension picks which container, which encoder goes
with which pixel format and quality scale, which audio codecs a container
takes as they are, and how an x264 preset name maps onto the other encoders'
speed knobs. The writer (:mod:`vidstyle.video.writer`), the audio pass-through
and the farm's chunk joiner all read them here.
"""
from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import av

from ..errors import SettingsError
from ..outputs import default_output
from ..settings import EncodeSettings

__all__ = [
    "CodecSpec", "CODECS", "ALIASES", "PRESETS", "CONTAINERS", "COPYABLE_AUDIO", "REENCODE_AUDIO",
    "available_codecs", "codec_spec", "container_for", "encoder_options", "default_output_path",
]


@dataclass(frozen=True)
class CodecSpec:
    """How one encoder is set up: its container, pixel format and quality scale."""

    encoder: str
    extension: str
    pix_fmt: str
    crf_max: int | None  # None: the codec has no CRF (ProRes)
    odd_pix_fmt: str | None  # a 4:4:4 format for odd sizes, where 4:2:0 can't be used


CODECS: dict[str, CodecSpec] = {
    "libx264": CodecSpec("libx264", ".mp4", "yuv420p", 51, "yuv444p"),
    "libx265": CodecSpec("libx265", ".mp4", "yuv420p", 51, "yuv444p"),
    "libvpx-vp9": CodecSpec("libvpx-vp9", ".webm", "yuv420p", 63, "yuv444p"),
    "libaom-av1": CodecSpec("libaom-av1", ".mp4", "yuv420p", 63, "yuv444p"),
    "libsvtav1": CodecSpec("libsvtav1", ".mp4", "yuv420p", 63, None),
    "prores_ks": CodecSpec("prores_ks", ".mov", "yuv422p10le", None, "yuv444p10le"),
}
ALIASES = {
    "h264": "libx264", "x264": "libx264",
    "hevc": "libx265", "h265": "libx265", "x265": "libx265",
    "vp9": "libvpx-vp9",
    "av1": "libsvtav1",
    "prores": "prores_ks",
}
PRESETS = (
    "ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow", "slower", "veryslow", "placebo",
)
# Speed knobs of the other encoders, mapped from the x264 preset names people know.
_VP9_CPU_USED = dict(zip(PRESETS, ("8", "7", "6", "5", "4", "3", "2", "1", "0", "0")))
_SVT_PRESET = dict(zip(PRESETS, ("12", "11", "10", "9", "8", "7", "5", "4", "2", "1")))

CONTAINERS = {".mp4": "mp4", ".m4v": "mp4", ".mov": "mov", ".mkv": "matroska", ".webm": "webm"}
# Audio codecs each container takes as they are (others are re-encoded).
COPYABLE_AUDIO: dict[str, set[str] | None] = {
    "mp4": {"aac", "mp3", "ac3", "eac3", "alac", "opus", "flac"},
    "mov": {"aac", "mp3", "ac3", "eac3", "alac", "pcm_s16le", "pcm_s24le", "pcm_s16be", "pcm_s24be", "pcm_f32le"},
    "matroska": None,  # anything FFmpeg can mux into Matroska
    "webm": {"opus", "vorbis"},
}
REENCODE_AUDIO = {"mp4": "aac", "mov": "aac", "matroska": "aac", "webm": "libopus"}


def available_codecs() -> list[str]:
    """Video encoders vidstyle knows that this FFmpeg build has."""
    return [name for name in CODECS if name in av.codecs_available]


def codec_spec(codec: str) -> CodecSpec:
    """The :class:`CodecSpec` of an encoder or alias; SettingsError if unknown or not in this FFmpeg."""
    name = ALIASES.get(codec, codec)
    if name == "libsvtav1" and name not in av.codecs_available and "libaom-av1" in av.codecs_available:
        name = "libaom-av1"
    spec = CODECS.get(name)
    if spec is None:
        raise SettingsError(f"unknown codec {codec!r}; choose one of: {', '.join(available_codecs())}",
                            settings="codec")
    if name not in av.codecs_available:
        raise SettingsError(f"codec {name} is not in this FFmpeg build; available: {', '.join(available_codecs())}",
                            settings="codec")
    return spec


def container_for(dest: Path) -> str:
    """The container format a destination's extension asks for; SettingsError for others."""
    fmt = CONTAINERS.get(dest.suffix.lower())
    if fmt is None:
        raise SettingsError(f"cannot write {dest.name}: use one of {', '.join(sorted(CONTAINERS))} as extension",
                            settings="output")
    return fmt


def encoder_options(spec: CodecSpec, crf: int, preset: str, x264_params: str | None = None) -> dict[str, str]:
    """The FFmpeg options of an encoder for a quality, an x264 preset name and (libx264 only) x264's own options."""
    enc, q = spec.encoder, str(crf)
    if enc == "libx264":
        return {"crf": q, "preset": preset, **({"x264-params": x264_params} if x264_params else {})}
    if enc == "libx265":
        return {"crf": q, "preset": preset, "x265-params": "log-level=error"}
    if enc == "libvpx-vp9":
        return {"crf": q, "b": "0", "cpu-used": _VP9_CPU_USED[preset], "row-mt": "1", "deadline": "good"}
    if enc == "libaom-av1":
        return {"crf": q, "cpu-used": _VP9_CPU_USED[preset], "row-mt": "1"}
    if enc == "libsvtav1":
        return {"crf": q, "preset": _SVT_PRESET[preset]}
    return {"profile": "3"}  # prores_ks: ProRes 422 HQ


def default_output_path(input: str | os.PathLike[str], codec: str = EncodeSettings.codec) -> Path:
    """Where a render of ``input`` goes by default: ``<name>_styled`` beside it, in the codec's usual container.

    >>> default_output_path("clips/walk.avi")
    PosixPath('clips/walk_styled.mp4')
    """
    name = ALIASES.get(codec, codec)
    return default_output(input, CODECS[name].extension if name in CODECS else ".mp4")
