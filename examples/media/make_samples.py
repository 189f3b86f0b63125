"""Cut the sample clips in this folder from two Debian bookworm packages.

    apt-get download opencv-doc=4.6.0+dfsg-12 chromium-bsu-data=0.9.16.1-3
    dpkg-deb -x opencv-doc_4.6.0+dfsg-12_all.deb pkg
    dpkg-deb -x chromium-bsu-data_0.9.16.1-3_all.deb pkg
    python examples/media/make_samples.py pkg examples/media

The video is opencv-doc's ``vtest.avi``; the sound of ``vtest_audio.mp4`` is
chromium-bsu-data's ``music_game.wav``. Uses only PyAV (its bundled FFmpeg);
the bytes depend on the PyAV/x264 build.
"""
from __future__ import annotations

import sys
from fractions import Fraction
from pathlib import Path

import av

VTEST = "usr/share/doc/opencv-doc/examples/data/vtest.avi"
MUSIC = "usr/share/games/chromium-bsu/wav/music_game.wav"


def _samples_between(frame: av.AudioFrame, start: float, end: float) -> av.AudioFrame | None:
    """The part of a decoded audio frame inside [start, end) seconds, as a new frame, or None."""
    rate = frame.sample_rate
    first = round(frame.pts * frame.time_base * rate)  # this frame's first sample, in samples
    lo = max(0, round(start * rate) - first)
    hi = min(frame.samples, round(end * rate) - first)
    if hi <= lo:
        return None
    arr = frame.to_ndarray()
    channels = len(frame.layout.channels)  # rebuilt with a named layout: a WAV's may be "1 channels"
    step = 1 if frame.format.is_planar else channels  # packed: samples interleaved
    part = av.AudioFrame.from_ndarray(
        arr[:, lo * step : hi * step].copy(), format=frame.format.name, layout={1: "mono", 2: "stereo"}[channels]
    )
    part.sample_rate = rate
    return part


def cut(
    src: Path,
    dest: Path,
    start: float,
    seconds: float,
    width: int,
    height: int,
    crf: int,
    audio: Path | None = None,
    audio_start: float = 0.0,
    audio_bit_rate: int = 64000,
) -> None:
    """Frames of ``src`` in [start, start + seconds), scaled and re-encoded with x264.

    With ``audio``, the sound of that file in [audio_start, audio_start + seconds)
    is encoded to AAC (its own rate and channel layout) and starts at 0 with the
    video, trimmed to the sample.
    """
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        vin = inp.streams.video[0]
        v = out.add_stream("libx264", rate=vin.average_rate, options={"crf": str(crf), "preset": "veryslow"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        tick = 1 / Fraction(vin.average_rate)
        v.codec_context.time_base = tick
        audio_in = av.open(str(audio)) if audio is not None else None
        if audio_in is not None:
            ain = audio_in.streams.audio[0]
            channels = len(ain.codec_context.layout.channels)  # a WAV's layout may be unnamed ("1 channels")
            a = out.add_stream("aac", rate=ain.codec_context.sample_rate, layout={1: "mono", 2: "stereo"}[channels])
            a.bit_rate = audio_bit_rate
        n = 0
        for frame in inp.decode(vin):
            t = frame.time
            if t < start:
                continue
            if t >= start + seconds:
                break
            small = frame.reformat(width=width, height=height, format="yuv420p", interpolation="LANCZOS")
            small.pts, small.time_base = n, tick
            small.pict_type = av.video.frame.PictureType.NONE  # let x264 choose (the source's types would be forced)
            out.mux(v.encode(small))
            n += 1
        out.mux(v.encode())
        if audio_in is not None:
            done = 0  # samples written: the audio restarts at 0 like the video
            for frame in audio_in.decode(ain):
                part = _samples_between(frame, audio_start, audio_start + seconds)
                if part is None:
                    continue
                part.pts, part.time_base = done, Fraction(1, part.sample_rate)
                done += part.samples
                out.mux(a.encode(part))
            out.mux(a.encode())
            audio_in.close()


if __name__ == "__main__":
    root, dest = Path(sys.argv[1]), Path(sys.argv[2])
    cut(root / VTEST, dest / "vtest_5s.mp4", start=0.0, seconds=5.0, width=384, height=288, crf=26)
    cut(
        root / VTEST, dest / "vtest_audio.mp4", start=0.0, seconds=6.0, width=384, height=288, crf=26,
        audio=root / MUSIC,
    )
