"""Shared fixtures: small synthetic clips written with PyAV into tmp_path.

Each clip is described by a :class:`ClipSpec` so a test can say what it needs
(size, rate, irregular timestamps, audio streams) and get a real file back.
Clips are tiny (a few dozen frames under 100 px) so the whole suite stays fast.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch

from vidstyle.settings import EncodeSettings

ROOT = Path(__file__).resolve().parents[1]
# Encoder settings of the tests: fast, and lossless where pixels are compared.
FAST = EncodeSettings(preset="ultrafast")
LOSSLESS = EncodeSettings(preset="ultrafast", crf=0)


def pytest_addoption(parser) -> None:
    parser.addoption("--runslow", action="store_true", default=False,
                     help="also run the tests marked slow: the benchmark scripts end to end")


def pytest_collection_modifyitems(config, items) -> None:
    if config.getoption("--runslow"):
        return
    skip = pytest.mark.skip(reason="slow: a benchmark script end to end; run with --runslow")
    for item in items:
        if "slow" in item.keywords:
            item.add_marker(skip)


@pytest.fixture(autouse=True)
def _user_cache(tmp_path_factory, monkeypatch):
    """Shot lists go to a cache folder of the test run, never to the user's."""
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path_factory.getbasetemp() / "xdg-cache"))


@dataclass(frozen=True)
class ClipSpec:
    """What a synthetic clip looks like."""

    name: str
    width: int = 98
    height: int = 66
    fps: Fraction = Fraction(25)
    frames: int = 24
    time_base: Fraction | None = None
    pts: tuple[int, ...] | None = None  # explicit (irregular) timestamps in time_base
    audio: tuple[tuple[int, str], ...] = ()  # (sample rate, codec) per audio stream
    codec: str = "libx264"
    pix_fmt: str = "yuv420p"
    suffix: str = ".mp4"
    gop: int = 6
    faststart: bool = False
    rotation: int = 0
    color: tuple[int, int, int, int] | None = None  # range, primaries, trc, space
    sample_aspect_ratio: Fraction | None = None


def _picture(i: int, width: int, height: int) -> np.ndarray:
    """A moving gradient with the frame number in its corner, so frames differ."""
    y, x = np.mgrid[0:height, 0:width]
    img = np.empty((height, width, 3), np.uint8)
    img[..., 0] = (x * 255 // max(width - 1, 1) + i * 7) % 256
    img[..., 1] = (y * 255 // max(height - 1, 1)) % 256
    img[..., 2] = (i * 20) % 256
    return img


def make_clip(directory: Path, spec: ClipSpec) -> Path:
    """Write ``spec`` as a real video file and return its path."""
    path = directory / f"{spec.name}{spec.suffix}"
    options = {"movflags": "+faststart"} if spec.faststart else {}
    out = av.open(str(path), mode="w", options=options)
    tb = spec.time_base or Fraction(1, 90000)
    if spec.pts is not None:
        pts = list(spec.pts)
    else:
        pts = [round(Fraction(i) / spec.fps / tb) for i in range(spec.frames)]
    v = out.add_stream(spec.codec, rate=spec.fps, options={"g": str(spec.gop), "preset": "ultrafast"}
                       if spec.codec == "libx264" else {"g": str(spec.gop)})
    v.width, v.height, v.pix_fmt = spec.width, spec.height, spec.pix_fmt
    v.time_base = tb
    v.codec_context.time_base = tb
    if spec.rotation:
        v.set_display_rotation(spec.rotation)
    if spec.sample_aspect_ratio:
        v.sample_aspect_ratio = spec.sample_aspect_ratio
    if spec.color:
        ctx = v.codec_context
        ctx.color_range, ctx.color_primaries, ctx.color_trc, ctx.colorspace = spec.color
    audio_streams = []
    for rate, codec in spec.audio:
        a = out.add_stream(codec, rate=rate, layout="stereo")
        audio_streams.append(a)
    duration = float((pts[-1] + (pts[1] - pts[0] if len(pts) > 1 else 1)) * tb)
    for i, p in enumerate(pts):
        frame = av.VideoFrame.from_ndarray(_picture(i, spec.width, spec.height), format="rgb24")
        if spec.color:
            frame = frame.reformat(format=spec.pix_fmt, dst_colorspace=spec.color[3], dst_color_range=spec.color[0])
        else:
            frame = frame.reformat(format=spec.pix_fmt)
        frame.pts, frame.time_base = p, tb
        out.mux(v.encode(frame))
    out.mux(v.encode())
    for k, a in enumerate(audio_streams):
        rate = a.codec_context.sample_rate
        total = int(duration * rate)
        t = np.arange(total) / rate
        tone = (0.3 * np.sin(2 * np.pi * (440 + 220 * k) * t)).astype(np.float32)
        chunk = 1024
        for start in range(0, total, chunk):
            block = tone[start:start + chunk]
            samples = np.stack([block, block])
            fmt = "fltp" if a.codec_context.name in ("aac", "libopus", "vorbis") else "s16p"
            if fmt == "s16p":
                samples = (samples * 32767).astype(np.int16)
            af = av.AudioFrame.from_ndarray(samples, format=fmt, layout="stereo")
            af.sample_rate = rate
            af.pts = start
            af.time_base = Fraction(1, rate)
            out.mux(a.encode(af))
        out.mux(a.encode())
    out.close()
    return path


@pytest.fixture
def clip_factory(tmp_path: Path):
    """Call with a :class:`ClipSpec` (or keyword arguments) to get a clip path."""

    def factory(spec: ClipSpec | None = None, **kwargs) -> Path:
        spec = spec or ClipSpec(**{"name": "clip", **kwargs})
        return make_clip(tmp_path, spec)

    return factory


@pytest.fixture
def clip(clip_factory) -> Path:
    """98x66, 25 fps, 24 frames, no audio."""
    return clip_factory(ClipSpec("plain"))


@pytest.fixture
def clip_audio(clip_factory) -> Path:
    """98x66 at 29.97 fps, 30 frames, one AAC stereo sine."""
    return clip_factory(ClipSpec("ntsc_audio", fps=Fraction(30000, 1001), frames=30, audio=((48000, "aac"),)))


@pytest.fixture
def clip_two_audio(clip_factory) -> Path:
    """25 fps, 25 frames, two AAC streams (44.1 and 48 kHz)."""
    return clip_factory(ClipSpec("two_audio", frames=25, audio=((44100, "aac"), (48000, "aac"))))


@pytest.fixture
def clip_vfr(clip_factory) -> Path:
    """Irregular timestamps (variable frame rate), with audio."""
    tb = Fraction(1, 90000)
    gaps = [3000, 3000, 4500, 1500, 6000, 3000, 3000, 9000, 3000, 1800, 4200, 3000] * 2
    pts = [0]
    for g in gaps[:-1]:
        pts.append(pts[-1] + g)
    return clip_factory(ClipSpec("vfr", time_base=tb, pts=tuple(pts), frames=len(pts), audio=((48000, "aac"),)))


@pytest.fixture
def clip_odd(clip_factory) -> Path:
    """97x65: odd sizes need 4:4:4 (4:2:0 halves chroma both ways)."""
    return clip_factory(ClipSpec("odd", width=97, height=65, pix_fmt="yuv444p", frames=12))


# --------------------------------------------------------------------------- #
# A model without the trained decoder: the real encoder and a random decoder
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="session")
def _random_weights_folder(tmp_path_factory) -> Path:
    import hashlib
    import shutil
    import sys

    import vidstyle.model as model

    sys.path.insert(0, str(ROOT / "training"))
    import train

    folder = tmp_path_factory.mktemp("weights")
    lines = []
    for name in (model.ENCODER_FILE, model.NORM_FILE):
        shutil.copy(ROOT / "weights" / name, folder / name)
        lines.append(f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}")
    (folder / model.SUMS_FILE).write_text("\n".join(lines) + "\n")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDSTYLE_WEIGHTS", str(folder))
        torch.manual_seed(0)
        decoder = model.Decoder()
        # Scale the random decoder so its output sits mid-grey with some spread, not clamped to white.
        with torch.no_grad():
            feats = model.load_encoder().encode(torch.rand(1, 3, 64, 64))
            out = decoder(feats)
            last = decoder.convs[decoder.layers[-1][0]]
            last.weight.mul_(0.15 / float(out.std()))
            last.bias.fill_(0.5)
            last.bias.sub_(decoder(feats).mean(dim=(0, 2, 3)) - 0.5)
        train.write_decoder(decoder, folder / model.DECODER_FILE, {"encoder_id": model.encoder_id()})
    return folder


@pytest.fixture(scope="module")
def random_weights(_random_weights_folder):
    """A weights folder with the real encoder and a random decoder, used via VIDSTYLE_WEIGHTS."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("VIDSTYLE_WEIGHTS", str(_random_weights_folder))
        yield _random_weights_folder


@pytest.fixture(scope="module")
def stylizer(random_weights):
    """A CPU :class:`~vidstyle.stylize.Stylizer` at size 64 with the random decoder."""
    from vidstyle.stylize import Stylizer

    return Stylizer(device="cpu", size=64)


# --------------------------------------------------------------------------- #
# Numbered image sequences, written by FFmpeg's own image encoders
# --------------------------------------------------------------------------- #

# sample type -> (codec, encoder pixel format, options) per extension.
SEQUENCE_KINDS = {
    ("exr", "half"): ("exr", "gbrpf32le", {"format": "half"}),
    ("exr", "float"): ("exr", "gbrpf32le", {"format": "float"}),
    ("dpx", "uint10"): ("dpx", "gbrp10le", {}),
    ("dpx", "uint16"): ("dpx", "rgb48le", {}),
    ("png", "uint8"): ("png", "rgb24", {}),
    ("png", "uint16"): ("png", "rgb48be", {}),
    ("tif", "uint8"): ("tiff", "rgb24", {}),
    ("tif", "uint16"): ("tiff", "rgb48le", {}),
}


def sequence_picture(i: int, width: int, height: int, sample: str) -> np.ndarray:
    """Frame ``i`` of a synthetic sequence: a moving gradient; float frames reach 2.0 (above white) and -0.1."""
    y, x = np.mgrid[0:height, 0:width].astype(np.float32)
    rgb = np.stack([(x / max(width - 1, 1) + i * 0.05) % 1.0, y / max(height - 1, 1),
                    np.full_like(x, (i % 8) / 8)], -1)
    if sample in ("half", "float"):
        rgb[..., 0] = rgb[..., 0] * 2.1 - 0.1  # scene-linear: highlights above 1, a little below 0
        return rgb.astype(np.float32)
    top = 255 if sample == "uint8" else 65535
    return np.rint(rgb * top).astype(np.uint8 if top == 255 else np.uint16)


def make_sequence(folder: Path, name: str, ext: str, sample: str, frames: int = 8, start: int = 1001,
                  size: tuple[int, int] = (64, 48), token: str = "%04d") -> str:
    """Write a numbered sequence ``folder/name.NNNN.ext`` and return its pattern (with ``token``)."""
    from mediautil import write_image

    codec, pix_fmt, options = SEQUENCE_KINDS[(ext, sample)]
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(frames):
        write_image(folder / f"{name}.{start + i:04d}.{ext}", sequence_picture(i, *size, sample), codec, pix_fmt,
                    options)
    return str(folder / f"{name}.{token}.{ext}")


@pytest.fixture
def sequence_factory(tmp_path: Path):
    """Call as ``sequence_factory("exr", "half", frames=8, start=1001)`` to get a sequence's pattern."""

    def factory(ext: str, sample: str, **kwargs) -> str:
        name = kwargs.pop("name", f"plate_{ext}_{sample}")
        return make_sequence(tmp_path / kwargs.pop("folder", "plates"), name, ext, sample, **kwargs)

    return factory
