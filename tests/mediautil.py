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
