"""Helpers that read results back with PyAV, independently of vidstyle.video."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np


def frame_times(path: Path) -> list[Fraction]:
    """Presentation time of every decoded video frame, in seconds, exactly."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return [Fraction(f.pts) * s.time_base for f in c.decode(s)]


def frames_rgb(path: Path) -> np.ndarray:
    """All frames as ``(N, H, W, 3)`` uint8."""
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def audio_packets(path: Path) -> list[list[tuple[Fraction, bytes]]]:
    """Per audio stream: (time, payload) of each packet."""
    with av.open(str(path)) as c:
        streams = list(c.streams.audio)
        out: list[list[tuple[Fraction, bytes]]] = [[] for _ in streams]
        pos = {s.index: k for k, s in enumerate(streams)}
        if not streams:
            return out
        for p in c.demux(streams):
            if p.size == 0:
                continue
            out[pos[p.stream_index]].append((Fraction(p.pts) * p.time_base, bytes(p)))
        return out


def audio_durations(path: Path) -> list[float]:
    """Seconds of decoded audio per stream (samples / rate)."""
    with av.open(str(path)) as c:
        result = []
        for s in c.streams.audio:
            with av.open(str(path)) as c2:
                n = sum(f.samples for f in c2.decode(c2.streams.audio[s.index - c.streams.audio[0].index]))
            result.append(n / s.codec_context.sample_rate)
        return result


# --------------------------------------------------------------------------- image sequences


def write_image(path: Path, rgb: np.ndarray, codec: str, pix_fmt: str, options: dict | None = None) -> None:
    """One image file from ``(H, W, 3)`` RGB (uint8, uint16 or float32) through FFmpeg's own encoder."""
    arr_fmt = {np.dtype(np.uint8): "rgb24", np.dtype(np.uint16): "rgb48le", np.dtype(np.float32): "gbrpf32le"}[rgb.dtype]
    ctx = av.CodecContext.create(codec, "w")
    ctx.width, ctx.height, ctx.pix_fmt = rgb.shape[1], rgb.shape[0], pix_fmt
    ctx.time_base = Fraction(1, 24)
    ctx.options = dict(options or {})
    ctx.open()
    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb), format=arr_fmt)
    if frame.format.name != pix_fmt:
        frame = frame.reformat(format=pix_fmt)
    path.write_bytes(bytes(ctx.encode(frame)[0]))


def read_image(path: Path) -> tuple[str, np.ndarray]:
    """An image file's pixel format as FFmpeg decodes it, and its RGB: uint8/uint16, or float32 for float formats."""
    codec = {".exr": "exr", ".dpx": "dpx", ".png": "png", ".tif": "tiff", ".tiff": "tiff"}[path.suffix.lower()]
    frame = av.CodecContext.create(codec, "r").decode(av.Packet(path.read_bytes()))[0]
    name = frame.format.name
    if "f16" in name or "f32" in name:
        dtype = np.float16 if "f16" in name else np.float32
        planes = [np.frombuffer(p, dtype).reshape(frame.height, -1)[:, : frame.width] for p in frame.planes]
        return name, np.stack([planes[2], planes[0], planes[1]], -1).astype(np.float32)
    bits = max(c.bits for c in frame.format.components)
    return name, frame.to_ndarray(format="rgb24" if bits <= 8 else "rgb48le")


def exr_channel_types(path: Path) -> dict[str, str]:
    """The channel list of an EXR header, read from the bytes (OpenEXR's file layout, not FFmpeg):
    channel name -> "uint", "half" or "float"."""
    import struct

    data = path.read_bytes()
    assert data[:4] == b"\x76\x2f\x31\x01", "not an OpenEXR file"
    pos = 8
    while data[pos] != 0:
        name_end = data.index(b"\0", pos)
        type_end = data.index(b"\0", name_end + 1)
        name, kind = data[pos:name_end].decode(), data[name_end + 1:type_end].decode()
        (size,) = struct.unpack_from("<i", data, type_end + 1)
        value = data[type_end + 5: type_end + 5 + size]
        if name == "channels" and kind == "chlist":
            out, p = {}, 0
            while value[p] != 0:
                end = value.index(b"\0", p)
                (ptype,) = struct.unpack_from("<i", value, end + 1)
                out[value[p:end].decode()] = ("uint", "half", "float")[ptype]
                p = end + 1 + 16
            return out
        pos = type_end + 5 + size
    raise AssertionError("no channel list in the EXR header")
