"""`stylize_video` and `vidstyle run` end to end on a tiny clip with the real model."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import FAST, LOSSLESS, ClipSpec
from mediautil import audio_packets, frame_times, frames_rgb
from vidstyle._cli import main
from vidstyle.errors import OutOfMemoryError
from vidstyle.render import stylize_video
from vidstyle.settings import Span, StyleSettings

STYLE = Path(__file__).parent / "data" / "coffee.jpg"


@pytest.fixture(scope="module")
def stylizer():
    from vidstyle.stylize import Stylizer

    return Stylizer(device="cpu", size=64)


@pytest.fixture
def small_clip(clip_factory) -> Path:
    return clip_factory(ClipSpec("small", width=64, height=48, frames=8, fps=Fraction(30000, 1001),
                                 audio=((48000, "aac"),)))


def test_stylize_video_whole_and_range(small_clip: Path, tmp_path: Path, stylizer) -> None:
    seen: list[tuple[int, int | None]] = []
    result = stylize_video(small_clip, None, StyleSettings([STYLE]), stylizer=stylizer, encode=FAST,
                           on_progress=lambda d, t: seen.append((d, t)))
    assert result.output == tmp_path / "small_styled.mp4" and result.frames == 8
    assert frame_times(result.output) == frame_times(small_clip)
    assert [p for _, p in audio_packets(result.output)[0]] == [p for _, p in audio_packets(small_clip)[0]]
    assert seen[-1] == (8, 8)

    cut = stylize_video(small_clip, tmp_path / "cut.mp4", StyleSettings([STYLE]), stylizer=stylizer,
                        span=Span(frames="2:6"), encode=FAST)
    assert cut.frames == 4 and len(frame_times(cut.output)) == 4


def test_cli_run_json_and_refusals(small_clip: Path, tmp_path: Path, monkeypatch, stylizer) -> None:
    import vidstyle.render as render

    monkeypatch.setattr(render, "Stylizer", lambda *args, **kwargs: stylizer)  # load the model once per module
    out = tmp_path / "o.mp4"
    runner = CliRunner()
    args = ["run", str(small_clip), "--style", str(STYLE), "--size", "64", "--preset", "ultrafast", "-o", str(out)]
    res = runner.invoke(main, [*args, "--json", "--start", "0.1"])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert data["output"] == str(out) and data["frames"] == 5  # 29.97 fps: frames 3..7

    res = runner.invoke(main, [*args, "--quiet"])
    assert res.exit_code == 3 and "already exists" in res.output
    res = runner.invoke(main, [*args, "--quiet", "-y", "--codec", "nope"])
    assert res.exit_code == 2 and "unknown codec" in res.output
    res = runner.invoke(main, ["run", str(tmp_path / "missing.mp4"), "--style", str(STYLE)])
    assert res.exit_code == 2 and "no such file" in res.output


def _use(monkeypatch, stylizer) -> None:
    """Renders from the CLI use the module's loaded model."""
    import vidstyle.render as render

    monkeypatch.setattr(render, "Stylizer", lambda *args, **kwargs: stylizer)


def test_preserve_color_mode_style_matches_the_style_to_the_first_frame(small_clip: Path, tmp_path: Path,
                                                                        monkeypatch, stylizer) -> None:
    """The bug: `run --preserve-color-mode style` always failed (no colour reference reached the stylizer)."""
    _use(monkeypatch, stylizer)
    res = CliRunner().invoke(main, ["run", str(small_clip), "--style", str(STYLE), "--size", "64", "--preset",
                                    "ultrafast", "--crf", "0", "--quiet", "--preserve-color-mode", "style",
                                    "-o", str(tmp_path / "s.mp4")])
    assert res.exit_code == 0, res.output
    whole = frames_rgb(tmp_path / "s.mp4").astype(float)
    # The reference is the video's first frame, whatever the range: a chunk matches the whole run (warmed up
    # from frame 0, its temporal memory is the whole run's too).
    part = stylize_video(small_clip, tmp_path / "part.mp4", StyleSettings([STYLE], preserve_color="style"),
                         stylizer=stylizer, encode=LOSSLESS, span=Span(frames=(6, 8)), warmup=6)
    assert len(whole) == 8 and np.abs(frames_rgb(part.output).astype(float) - whole[6:]).mean() < 0.5
    plain = stylize_video(small_clip, tmp_path / "plain.mp4", StyleSettings([STYLE]), stylizer=stylizer,
                          encode=LOSSLESS, span=Span(frames=(6, 8)))
    assert np.abs(frames_rgb(plain.output).astype(float) - whole[6:]).mean() > 1  # the style's colours moved


def test_out_of_memory_says_which_settings_to_lower(small_clip: Path, tmp_path: Path, monkeypatch, stylizer) -> None:
    """The bug: a CUDA out-of-memory error (a RuntimeError) surfaced as an internal error."""
    def exhausted(*args, **kwargs):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    look = stylizer.look([STYLE])
    monkeypatch.setattr(stylizer.backend, "decode", exhausted)  # whichever backend runs the decoder
    with pytest.raises(OutOfMemoryError, match="lower the batch or the working size") as info:
        stylizer.stylize(torch.rand(2, 3, 48, 64), look)
    assert info.value.settings == ("batch", "size")

    _use(monkeypatch, stylizer)
    res = CliRunner().invoke(main, ["run", str(small_clip), "--style", str(STYLE), "--size", "64", "--quiet",
                                    "-o", str(tmp_path / "o.mp4")])
    assert res.exit_code == 6, res.output
    lines = [line for line in res.stderr.splitlines() if line.strip()]
    assert len(lines) == 1 and "internal error" not in lines[0], res.stderr
    assert "ran out of memory" in lines[0] and "(options --batch, --size)" in lines[0]
    assert not (tmp_path / "o.mp4").exists()


@pytest.mark.parametrize("size", [(2, 2), (3, 1)])
def test_any_tiny_video_renders(clip_factory, tmp_path: Path, stylizer, size) -> None:
    """The bug: a 2x2-pixel video ended in an internal error (reflection padding larger than the features)."""
    w, h = size
    src = clip_factory(ClipSpec("tiny", width=w, height=h, frames=3, pix_fmt="yuv444p"))
    res = stylize_video(src, tmp_path / "t.mp4", StyleSettings([STYLE]), stylizer=stylizer, encode=FAST)
    assert res.frames == 3 and frames_rgb(res.output).shape == (3, h, w, 3)


def test_run_names_its_output_beside_the_input(small_clip: Path, monkeypatch, stylizer) -> None:
    _use(monkeypatch, stylizer)
    res = CliRunner().invoke(main, ["run", str(small_clip), "--style", str(STYLE), "--size", "64", "--quiet",
                                    "--preset", "ultrafast", "--frames", "0:2"])
    assert res.exit_code == 0, res.output
    assert (small_clip.parent / "small_styled.mp4").is_file()


def test_below_the_frame_size_ffmpeg_scales_and_the_picture_matches_the_torch_path(clip_factory, tmp_path: Path) -> None:
    """At a working size below the frame's, frames are decoded at the working size and scaled back up by the
    encoder's conversion; the picture must be what resizing in torch gives, up to the two scalers' filters."""
    from vidstyle.render import codec_scaling
    from vidstyle.settings import SteadySettings
    from vidstyle.stylize import Stylizer
    from vidstyle.video import FrameReader, probe

    # The float32 reference, not `auto`: on a CPU without AMX that is int8 ONNX, whose quantization steps
    # amplify the two scalers' small differences (26.8 dB there against 29.5 dB in float32, AMD EPYC).
    stylizer = Stylizer(device="cpu", size=64, backend="torch")

    big = clip_factory(ClipSpec("big", width=128, height=96, frames=6))
    info = probe(big)
    assert codec_scaling(info, tmp_path / "o.mp4", 64, "full") == (64, 48)
    assert codec_scaling(info, tmp_path / "o.mp4", 64, "draft") is None  # draft is guided by the full frame
    assert codec_scaling(info, tmp_path / "o.%04d.png", 64, "full") is None  # sequences keep full size
    assert codec_scaling(info, tmp_path / "o.mp4", 128, "full") is None  # nothing to scale

    out = stylize_video(big, tmp_path / "o.mp4", StyleSettings([STYLE]), stylizer=stylizer, encode=LOSSLESS,
                        steady=SteadySettings(enabled=False)).output
    got = frames_rgb(out).astype(np.float64)
    assert got.shape == (6, 96, 128, 3)
    with FrameReader(big) as reader:
        full = torch.cat([b.rgb for b in reader.iter_batches(6)])
    look = stylizer.look([STYLE])
    want = (stylizer.stylize(full, look).permute(0, 2, 3, 1).numpy() * 255.0).astype(np.float64)
    psnr = 10 * np.log10(255.0**2 / np.mean((got - want) ** 2))
    assert psnr > 28, psnr  # 29.5-30.5 dB: area vs antialiased-bilinear down, bicubic vs bilinear up


def test_the_writer_takes_frames_at_most_its_size(clip_factory, tmp_path: Path) -> None:
    from vidstyle.errors import RenderError
    from vidstyle.video import FrameWriter, probe

    info = probe(clip_factory(ClipSpec("w", width=64, height=48, frames=2)))
    with FrameWriter(tmp_path / "out.mp4", info, LOSSLESS, audio=False) as w:
        w.write([0], [None], torch.full((1, 3, 24, 32), 0.5))  # scaled up by FFmpeg
        with pytest.raises(RenderError, match="or smaller"):
            w.write([1], [None], torch.zeros(1, 3, 96, 64))
        w.write([1], [None], torch.zeros(1, 3, 48, 64))
    frames = frames_rgb(tmp_path / "out.mp4")
    assert frames.shape == (2, 48, 64, 3) and abs(frames[0].mean() - 128) < 2 and frames[1].max() < 3


def test_default_encode_adds_the_cpu_x264_params_only_to_a_preset_it_picks() -> None:
    from vidstyle.render import CPU_PRESET, CPU_X264_PARAMS, default_encode, frame_scale
    from vidstyle.settings import EncodeSettings

    assert default_encode(EncodeSettings(), "cpu") == EncodeSettings(preset=CPU_PRESET, x264_params=CPU_X264_PARAMS)
    # Frames of 4x the working size's pixels and more on the CPU: the cheapest preset, plain (the params would slow it).
    assert frame_scale(1080, 1920, 512) == 1920 * 1080 / (512 * 288) and frame_scale(288, 384, 512) == 1.0
    assert default_encode(EncodeSettings(), "cpu", frame_scale(720, 1280, 512)) == EncodeSettings(preset="ultrafast")
    assert default_encode(EncodeSettings(), "cpu", frame_scale(1080, 1920, 1024)) == default_encode(EncodeSettings(), "cpu")
    assert default_encode(EncodeSettings(), "cpu", 4.0).preset == "ultrafast"
    assert frame_scale(480, 640, 192, "draft") == 1.0  # draft's stage upsamples to the full frame: its cost follows it
    assert default_encode(EncodeSettings(), "cuda") == EncodeSettings(preset="medium")
    assert default_encode(EncodeSettings(), "cuda", 14.0) == EncodeSettings(preset="medium")
    given = EncodeSettings(preset="veryfast")
    assert default_encode(given, "cpu") is given  # a preset the user chose is used as it is
    own = EncodeSettings(x264_params="me=hex")
    assert default_encode(own, "cpu").x264_params == "me=hex"


def test_a_render_picks_the_cpu_preset_by_frame_size(clip_factory, tmp_path: Path, stylizer) -> None:
    """The frame against the working size decides: read back from the settings x264 writes into the file."""
    from vidstyle.settings import EncodeSettings, SteadySettings

    assert stylizer.size == 64
    no_steady = SteadySettings(enabled=False)
    # 64x48 is the working size itself (veryfast, CABAC on); 128x96 has 4x its pixels (ultrafast, no CABAC).
    for width, height, want in ((64, 48, b"cabac=1"), (128, 96, b"cabac=0")):
        src = clip_factory(ClipSpec(f"s{width}", width=width, height=height, frames=2))
        out = stylize_video(src, tmp_path / f"{width}.mp4", StyleSettings([STYLE]), stylizer=stylizer,
                            encode=EncodeSettings(), steady=no_steady).output
        settings = out.read_bytes().split(b"options: ", 1)[1][:2000]
        assert want in settings, settings[:200]


def test_farm_chunks_pin_the_cpu_x264_params(tmp_path: Path) -> None:
    from vidstyle.farm.plan import RenderSpec, _pinned_preset
    from vidstyle.render import CPU_X264_PARAMS
    from dataclasses import replace

    from vidstyle.settings import ModelSettings

    spec = RenderSpec("r", str(tmp_path / "in.mp4"), str(tmp_path / "out.mp4"), StyleSettings([str(STYLE)]),
                      model=ModelSettings(64, "cpu"))
    pinned = _pinned_preset(spec, 48, 64)
    assert pinned.preset == "veryfast" and pinned.x264_params == CPU_X264_PARAMS
    assert _pinned_preset(spec, 480, 640).preset == "ultrafast"  # 100x the 64 px working size's pixels
    # A plan file round-trips the pinned settings, so every chunk encodes alike wherever it runs.
    again = RenderSpec.from_dict(json.loads(json.dumps(replace(spec, encode=pinned).to_dict())))
    assert again.encode == pinned
