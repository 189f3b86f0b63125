"""The temporal stage in a render: on by default, the switch and the strength, resets at cuts, chunk warm-up."""
from __future__ import annotations

from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import numpy as np
import pytest
import torch
from click.testing import CliRunner

from conftest import LOSSLESS, ClipSpec
from mediautil import frames_rgb
from vidstyle._cli import main
from vidstyle.errors import SettingsError
from vidstyle import render
from vidstyle.render import Steady, reset_frames, stylize_video
from vidstyle.settings import ModelSettings, Span, SteadySettings, StyleSettings
from vidstyle.shots import ShotList
from vidstyle.temporal import Temporal, TemporalSettings
from vidstyle.timeline import timeline_from_styles

STYLE = Path(__file__).parent / "data" / "coffee.jpg"
STYLE_B = Path(__file__).parent / "data" / "chelsea.jpg"
OFF = SteadySettings(enabled=False)


@pytest.fixture(scope="module")
def stylizer():
    from vidstyle.stylize import Stylizer

    return Stylizer(device="cpu", size=64)


@pytest.fixture
def clip(clip_factory) -> Path:
    return clip_factory(ClipSpec("steady", width=64, height=48, frames=8, fps=Fraction(25)))


def _render(clip: Path, out: Path, stylizer, **kwargs) -> np.ndarray:
    res = stylize_video(clip, out, StyleSettings([STYLE]), stylizer=stylizer, encode=LOSSLESS, **kwargs)
    return frames_rgb(res.output).astype(float)


def _diff(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.abs(a - b).mean())


def test_steady_settings_are_checked_and_scale_the_stage() -> None:
    assert SteadySettings().on and SteadySettings().temporal() == TemporalSettings()  # the measured default
    half = SteadySettings(strength=0.5).temporal()
    assert half.features == pytest.approx(0.45) and half.output == pytest.approx(0.4)
    assert half.still_copy == pytest.approx(TemporalSettings().still_copy / 2)  # a weaker copy of the still past
    for off in (OFF, SteadySettings(strength=0)):
        assert not off.on and not off.temporal().needs_flow
    for bad in (1.5, -0.1, "1", True):
        with pytest.raises(SettingsError, match="strength"):
            SteadySettings(strength=bad)
    with pytest.raises(SettingsError):
        SteadySettings(enabled="yes")
    # The camera carry: off by default, its tolerance scaled by the strength, off with the stage.
    assert TemporalSettings().carry == 0
    assert SteadySettings(carry=True).temporal().carry == SteadySettings.CARRY
    assert SteadySettings(strength=0.5, carry=True).temporal().carry == pytest.approx(SteadySettings.CARRY / 2)
    assert SteadySettings(enabled=False, carry=True).temporal().carry == 0
    with pytest.raises(SettingsError, match="carry"):
        SteadySettings(carry="yes")


def test_hooks_that_do_nothing_leave_the_stylizer_as_it_was(stylizer) -> None:
    frames = torch.rand(3, 3, 48, 64, generator=torch.Generator().manual_seed(0))
    look = stylizer.look([STYLE])
    plain = stylizer.stylize(frames, look)
    assert torch.equal(stylizer.stylize(frames, look, hooks=Temporal(TemporalSettings.off()).hooks()), plain)
    steady = stylizer.stylize(frames, look, hooks=Temporal().hooks())
    assert torch.equal(steady[0], plain[0])  # the first frame has no past


def test_on_by_default_off_with_the_switch(clip: Path, tmp_path: Path, stylizer) -> None:
    on = stylize_video(clip, tmp_path / "on.mp4", StyleSettings([STYLE]), stylizer=stylizer, encode=LOSSLESS)
    off = stylize_video(clip, tmp_path / "off.mp4", StyleSettings([STYLE]), stylizer=stylizer, encode=LOSSLESS,
                        steady=OFF)
    assert on.steady and not off.steady
    a, b = frames_rgb(on.output).astype(float), frames_rgb(off.output).astype(float)
    assert _diff(a[0], b[0]) == 0  # a render's first frame starts afresh
    assert _diff(a[1:], b[1:]) > 0.5
    weak = _render(clip, tmp_path / "weak.mp4", stylizer, steady=SteadySettings(strength=0.3))
    assert 0 < _diff(weak[1:], b[1:]) < _diff(a[1:], b[1:])  # the strength scales the steadying


def test_cli_switch_and_strength(clip: Path, tmp_path: Path, monkeypatch, stylizer) -> None:
    import vidstyle.render as render

    monkeypatch.setattr(render, "Stylizer", lambda *args, **kwargs: stylizer)
    base = ["run", str(clip), "--style", str(STYLE), "--size", "64", "--preset", "ultrafast", "--crf", "0"]
    res = CliRunner().invoke(main, [*base, "--no-steady", "-o", str(tmp_path / "off.mp4")])
    assert res.exit_code == 0, res.output
    assert "not steadied" in res.output
    off = _render(clip, tmp_path / "lib-off.mp4", stylizer, steady=OFF)
    assert _diff(frames_rgb(tmp_path / "off.mp4").astype(float), off) == 0
    res = CliRunner().invoke(main, [*base, "--steady-strength", "0.5", "-o", str(tmp_path / "half.mp4"), "--quiet"])
    assert res.exit_code == 0, res.output
    half = _render(clip, tmp_path / "lib-half.mp4", stylizer, steady=SteadySettings(strength=0.5))
    assert _diff(frames_rgb(tmp_path / "half.mp4").astype(float), half) == 0
    res = CliRunner().invoke(main, [*base, "--steady-carry", "-o", str(tmp_path / "carry.mp4"), "--quiet"])
    assert res.exit_code == 0, res.output
    carry = _render(clip, tmp_path / "lib-carry.mp4", stylizer, steady=SteadySettings(carry=True))
    assert _diff(frames_rgb(tmp_path / "carry.mp4").astype(float), carry) == 0
    default = _render(clip, tmp_path / "lib-default.mp4", stylizer, steady=SteadySettings())
    assert _diff(carry[1:], default[1:]) > 0  # the switch reaches the stage
    res = CliRunner().invoke(main, [*base, "--steady-strength", "2", "-o", str(tmp_path / "bad.mp4")])
    assert res.exit_code != 0 and "strength" in res.output and "Traceback" not in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "bad.mp4").exists()


def test_a_cut_in_the_shot_list_starts_afresh(clip: Path, tmp_path: Path, stylizer) -> None:
    shots = ShotList(cuts=(4,), frames=8, fps=Fraction(25), cut_times=(0.16,), duration=0.32)
    on = _render(clip, tmp_path / "on.mp4", stylizer, shots=shots)
    off = _render(clip, tmp_path / "off.mp4", stylizer, steady=OFF)
    assert _diff(on[4], off[4]) == 0  # nothing of the shot before comes through
    assert _diff(on[5], off[5]) > 0.5 and _diff(on[3], off[3]) > 0.5


def test_timeline_cuts_and_shot_starts_are_the_resets() -> None:
    fps = Fraction(25)
    shots = ShotList(cuts=(30,), frames=100, fps=fps, cut_times=(1.2,), duration=4.0)
    cut = timeline_from_styles([str(STYLE), f"{STYLE_B}@2s"], None, 1.0, False).resolve(fps, 100, shots)
    fade = timeline_from_styles([str(STYLE), f"{STYLE_B}@2s"], 1.0, 1.0, False).resolve(fps, 100, shots)
    assert reset_frames(shots, cut) == {30, 50}
    assert reset_frames(shots, fade) == {30}  # a cross-fade changes the look smoothly: no reset
    assert reset_frames(None, cut) == {50}


def test_the_grid_phase_restarts_at_frame_0_at_cuts_and_every_period() -> None:
    period = TemporalSettings().phase_period
    steady = Steady(Temporal(), frozenset({30, period + 5}))
    assert [steady.phase_from(f) for f in (0, 29, 30, 50, period - 1, period, period + 4, period + 5, period + 9)] == \
        [0, 0, 30, 30, 30, period, period, period + 5, period + 5]
    assert Steady(Temporal(TemporalSettings(phase=False))).phase_from(50) == 50  # no lock: nothing to follow


@pytest.mark.parametrize("warmup", [4, 3])  # 3: the batch of frames 20-21 holds the last followed frame and the first warmed
def test_a_chunk_follows_the_flow_to_a_single_runs_grid_phase(tmp_path: Path, stylizer, monkeypatch, warmup: int) -> None:
    """A warm-up that starts after a phase restart first follows the flow from it (no model): same phase."""
    clip = Path(__file__).parents[1] / "examples" / "media" / "pan_dune.mp4"  # a moving camera
    shifts: list[list[float]] = []
    motion = Temporal.motion

    def spy(self, frames, *args, **kwargs):
        m = motion(self, frames, *args, **kwargs)
        shifts.extend(m.shift.tolist())
        return m

    monkeypatch.setattr(Temporal, "motion", spy)
    period = 16  # the clip has 40 frames: a shorter period than the default's, the same mechanism
    temporal = SteadySettings.temporal
    monkeypatch.setattr(SteadySettings, "temporal", lambda self: replace(temporal(self), phase_period=period))
    start, end = period + 8, period + 10
    kwargs = {"stylizer": stylizer, "encode": LOSSLESS, "model": ModelSettings(batch=2)}
    stylize_video(clip, tmp_path / "whole.mp4", StyleSettings([STYLE]), span=Span(frames=(0, end)), **kwargs)
    single, shifts[:] = shifts[:], []
    tracked: list[list[int]] = []
    track = render.track_batch
    monkeypatch.setattr(render, "track_batch", lambda st, sc, batch, steady: (tracked.append(batch.indices),
                                                                               track(st, sc, batch, steady)))
    chunk = stylize_video(clip, tmp_path / "chunk.mp4", StyleSettings([STYLE]), span=Span(frames=(start, end)),
                          warmup=warmup, **kwargs)
    assert chunk.warmup_frames == warmup and chunk.frames == end - start
    # Followed from the restart at `period` up to the warm-up; the model ran on the warm-up and the range.
    assert sum(tracked, []) == list(range(period, start - warmup))
    assert np.allclose(shifts, single[period:], atol=1e-4)
    assert max(abs(v) for s in single[start - warmup:end] for v in s) > 0.05  # the camera did move the grid


def test_with_the_carry_a_range_warmed_up_from_the_memorys_restart_matches_the_whole_render(
        tmp_path: Path, stylizer, monkeypatch) -> None:
    """The carry never forgets, so its memory starts again every phase period: from there a chunk is exact."""
    clip = Path(__file__).parents[1] / "examples" / "media" / "pan_dune.mp4"  # a moving camera: the carry resamples
    period = 16
    temporal = SteadySettings.temporal
    monkeypatch.setattr(SteadySettings, "temporal", lambda self: replace(temporal(self), phase_period=period))
    kwargs = {"stylizer": stylizer, "encode": LOSSLESS, "model": ModelSettings(batch=2),
              "steady": SteadySettings(carry=True)}
    start, end = period + 6, period + 8
    whole = frames_rgb(stylize_video(clip, tmp_path / "whole.mp4", StyleSettings([STYLE]), span=Span(frames=(0, end)),
                                     **kwargs).output).astype(float)
    exact = stylize_video(clip, tmp_path / "exact.mp4", StyleSettings([STYLE]), span=Span(frames=(start, end)),
                          warmup=start - period, **kwargs)
    assert _diff(frames_rgb(exact.output).astype(float), whole[start:]) == 0
    short = stylize_video(clip, tmp_path / "short.mp4", StyleSettings([STYLE]), span=Span(frames=(start, end)),
                          warmup=2, **kwargs)
    assert _diff(frames_rgb(short.output).astype(float), whole[start:]) > 0  # a copy from later frames: not the same


def test_a_range_warmed_up_from_the_start_matches_the_whole_render(clip: Path, tmp_path: Path, stylizer) -> None:
    whole = _render(clip, tmp_path / "whole.mp4", stylizer)
    warm = stylize_video(clip, tmp_path / "warm.mp4", StyleSettings([STYLE]), stylizer=stylizer, encode=LOSSLESS,
                         span=Span(frames=(4, 8)), warmup=4)
    assert warm.warmup_frames == 4 and warm.frames == 4
    assert _diff(frames_rgb(warm.output).astype(float), whole[4:]) == 0
    cold = _render(clip, tmp_path / "cold.mp4", stylizer, span=Span(frames=(4, 8)))
    assert _diff(cold[0], whole[4]) > 0.5  # without the warm-up the range starts afresh
    with pytest.raises(SettingsError, match="warm-up"):
        stylize_video(clip, tmp_path / "x.mp4", StyleSettings([STYLE]), stylizer=stylizer, warmup=-1)
