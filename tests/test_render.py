"""`stylize_video` and `vidstyle run` end to end on a tiny clip with the real model."""
from __future__ import annotations

import json
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from conftest import ClipSpec
from mediautil import audio_packets, frame_times
from vidstyle._cli import main
from vidstyle.render import stylize_video

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
    result = stylize_video(small_clip, styles=[STYLE], stylizer=stylizer, preset="ultrafast",
                           on_progress=lambda d, t: seen.append((d, t)))
    assert result.output == tmp_path / "small_styled.mp4" and result.frames == 8
    assert frame_times(result.output) == frame_times(small_clip)
    assert [p for _, p in audio_packets(result.output)[0]] == [p for _, p in audio_packets(small_clip)[0]]
    assert seen[-1] == (8, 8)

    cut = stylize_video(small_clip, tmp_path / "cut.mp4", styles=[STYLE], stylizer=stylizer, frames="2:6",
                        preset="ultrafast")
    assert cut.frames == 4 and len(frame_times(cut.output)) == 4


def test_cli_run_json_and_refusals(small_clip: Path, tmp_path: Path, monkeypatch, stylizer) -> None:
    import vidstyle.render as render

    monkeypatch.setattr(render, "Stylizer", lambda device, size: stylizer)  # load the model once per module
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
