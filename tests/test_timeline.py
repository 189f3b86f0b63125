"""Timelines: parsing, validation, the schedule's interpolation, and renders that follow it."""
from __future__ import annotations

from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest

from vidstyle.shots import ShotList
import torch
from click.testing import CliRunner

from conftest import ClipSpec
from vidstyle._cli import main
from vidstyle.errors import InputError, SettingsError
from vidstyle.stats import StyleStats
from vidstyle.timeline import (
    StyleSchedule,
    ease,
    load_timeline,
    split_style_spec,
    timeline_from_styles,
)

DATA = Path(__file__).parent / "data"
FPS = Fraction(25)
KF_A = '[[keyframe]]\nat = 0\nstyle = "a.jpg"\n'
C = 4  # channels of the fake statistics


# --------------------------------------------------------------------------- #
# Helpers: style files that only need to exist, and fake statistics
# --------------------------------------------------------------------------- #


@pytest.fixture
def files(tmp_path: Path) -> Path:
    for name in ("a.jpg", "b.jpg", "c.jpg", "m.png"):
        (tmp_path / name).write_bytes(b"x")
    return tmp_path


VALUES = {"a.jpg": 0.0, "b.jpg": 10.0, "c.jpg": 20.0}


class FakeLoader:
    """Statistics by file name (mean = value, std = value + 1), counting calls."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, path: Path) -> StyleStats:
        self.calls.append(path.name)
        v = VALUES[path.name]
        return StyleStats(torch.full((C,), v), torch.full((C,), v + 1), "enc", path.name)


def write(dir_: Path, text: str, name: str = "t.toml") -> Path:
    path = dir_ / name
    path.write_text(text)
    return path


def shot_list(*cuts: int, frames: int = 500) -> ShotList:
    """A shot list of a constant-rate video: shot k starts at its cut frame / fps."""
    return ShotList(cuts=cuts, frames=frames, fps=FPS, cut_times=tuple(float(c / FPS) for c in cuts), duration=float(frames / FPS))


def schedule(dir_: Path, text: str, frames: int = 500, shots=None):
    loader = FakeLoader()
    resolved = load_timeline(write(dir_, text)).resolve(FPS, frames, shots)
    return StyleSchedule.build(resolved, loader), resolved, loader


def mean_at(s: StyleSchedule, t: float) -> float:
    return float(s.look_at(round(t * 25), t).styles[0].mean[0])


# --------------------------------------------------------------------------- #
# Interpolation
# --------------------------------------------------------------------------- #


def test_ease_curves() -> None:
    assert [ease("linear", u) for u in (0, 0.25, 1)] == [0, 0.25, 1]
    assert ease("smooth", 0.5) == 0.5 and ease("smooth", 0.25) == pytest.approx(0.15625)
    assert ease("hold", 0.999) == 0 and ease("hold", 1.0) == 1
    assert ease("linear", -1) == 0 and ease("smooth", 2) == 1


@pytest.mark.parametrize(
    "curve, quarter, half",
    [("linear", 2.5, 5.0), ("smooth", 10 * 0.15625, 5.0), ("hold", 0.0, 0.0)],
)
def test_statistics_between_keyframes_follow_the_curve(files: Path, curve: str, quarter: float, half: float) -> None:
    s, _, _ = schedule(files, f"""
curve = "{curve}"
[[keyframe]]
at = 2
style = "a.jpg"
alpha = 0.5
[[keyframe]]
at = 6
style = "b.jpg"
alpha = 1.0
""")
    assert mean_at(s, 0.0) == 0.0  # before the first keyframe its look holds
    assert mean_at(s, 2.0) == 0.0
    assert mean_at(s, 3.0) == pytest.approx(quarter)
    assert mean_at(s, 4.0) == pytest.approx(half)
    assert mean_at(s, 6.0) == 10.0  # exact at the keyframe
    assert mean_at(s, 19.0) == 10.0  # after the last keyframe its look holds
    mid = s.look_at(100, 4.0)
    assert float(mid.styles[0].std[0]) == pytest.approx(half + 1)
    assert mid.alpha == pytest.approx(0.5 + 0.5 * half / 10)
    assert mid.styles[0].mean.shape == (C,)


def test_transition_window_is_centred_on_the_keyframe(files: Path) -> None:
    s, resolved, _ = schedule(files, """
[[keyframe]]
at = 0
style = "a.jpg"
[[keyframe]]
at = 10
style = "b.jpg"
transition = "2s"
[[keyframe]]
at = 12
style = "c.jpg"
transition = 0
""")
    r = resolved.keyframes
    assert (r[1].change_start, r[1].change_end) == (9.0, 11.0)
    assert (r[2].change_start, r[2].change_end) == (12.0, 12.0)
    assert mean_at(s, 8.96) == 0.0
    assert mean_at(s, 9.0) == 0.0
    assert mean_at(s, 9.5) == pytest.approx(2.5)
    assert mean_at(s, 10.0) == pytest.approx(5.0)  # the keyframe is the middle of its transition
    assert mean_at(s, 11.0) == 10.0
    assert mean_at(s, 11.96) == 10.0
    assert mean_at(s, 12.0) == 20.0  # transition 0: a cut on the keyframe's frame


def test_smooth_curve_with_transition_and_inheritance(files: Path) -> None:
    s, resolved, _ = schedule(files, """
curve = "smooth"
transition = 4
[[keyframe]]
at = "00:00:01"
styles = ["a.jpg", "b.jpg"]
weights = [0.5, 0.5]
preserve_color = true
[[keyframe]]
frame = 250
alpha = 0.2
""")
    assert mean_at(s, 1.0) == 5.0  # the mix of a and b
    second = resolved.keyframes[1].keyframe
    assert second.styles == resolved.keyframes[0].keyframe.styles and second.preserve_color  # inherited
    assert s.look_at(200, 8.0).alpha == 1.0
    assert s.look_at(225, 9.0).alpha == pytest.approx(1 - 0.8 * 0.15625)
    assert s.look_at(250, 10.0).alpha == pytest.approx(0.6)
    assert s.look_at(300, 12.0).alpha == pytest.approx(0.2)
    assert s.look_at(0, 0.0).preserve_color == 1.0


def test_a_frames_look_does_not_depend_on_the_frames_asked_before(files: Path) -> None:
    """Farm chunks start anywhere: a frame gets the same look whichever frames were asked before it."""
    text = """
curve = "smooth"
transition = 2
[[keyframe]]
at = 0
style = "a.jpg"
alpha = 0.2
[[keyframe]]
at = 3
style = "b.jpg"
[[keyframe]]
at = 6
style = "a.jpg"
alpha = 1.0
[[keyframe]]
at = 9
style = "c.jpg"
alpha = 0.6
curve = "linear"
"""

    def summary(s: StyleSchedule, frames) -> list[tuple[float, float, float]]:
        return [(float(look.styles[0].mean[0]), float(look.styles[0].std[0]), look.alpha)
                for look in (s.look_at(f, f / 25) for f in frames)]

    frames = list(range(0, 300, 7))
    forward = summary(schedule(files, text)[0], frames)
    assert len(set(forward)) > 10  # the frames asked really have different looks
    assert summary(schedule(files, text)[0], frames[::-1])[::-1] == forward
    # Jumps across several keyframes, back and forth, as chunks of a farm might ask.
    order = [len(frames) - 1, 1, 21, 0, 30]
    assert summary(schedule(files, text)[0], [frames[k] for k in order]) == [forward[k] for k in order]


def test_styles_are_loaded_once_per_distinct_file(files: Path) -> None:
    s, _, loader = schedule(files, """
[[keyframe]]
at = 0
style = "a.jpg"
[[keyframe]]
at = 2
styles = ["b.jpg", "a.jpg"]
weights = [0.25, 0.75]
[[keyframe]]
at = 4
style = "a.jpg"
[[keyframe]]
at = 6
style = "b.jpg"
""")
    assert sorted(loader.calls) == ["a.jpg", "b.jpg"]
    assert mean_at(s, 2.0) == pytest.approx(2.5)


# --------------------------------------------------------------------------- #
# CLI shorthand and shots
# --------------------------------------------------------------------------- #


def test_style_at_shorthand(files: Path, monkeypatch) -> None:
    monkeypatch.chdir(files)
    assert split_style_spec("b.jpg@12s") == ("b.jpg", ("time", Fraction(12)))
    assert split_style_spec("b.jpg@00:00:12.5") == ("b.jpg", ("time", Fraction(25, 2)))
    assert split_style_spec("b.jpg@300f") == ("b.jpg", ("frame", 300))
    assert split_style_spec("me@2x.png") == ("me@2x.png", None)
    assert timeline_from_styles(["a.jpg", "b.jpg"]) is None  # plain mixing keeps its meaning

    tl = timeline_from_styles(["a.jpg", "b.jpg@12s"], transition=2.0)
    resolved = tl.resolve(FPS, 500)
    s = StyleSchedule.build(resolved, FakeLoader())
    assert [(r.time, r.frame, r.change_start, r.change_end) for r in resolved.keyframes] == [
        (0.0, 0, 0.0, 0.0), (12.0, 300, 11.0, 13.0)]
    assert mean_at(s, 10.96) == 0.0 and mean_at(s, 12.0) == pytest.approx(5.0) and mean_at(s, 13.0) == 10.0

    cut = StyleSchedule.build(timeline_from_styles(["a.jpg", "b.jpg@12s"]).resolve(FPS, 500), FakeLoader())
    assert mean_at(cut, 11.96) == 0.0 and mean_at(cut, 12.0) == 10.0

    with pytest.raises(SettingsError, match="only the first style"):
        timeline_from_styles(["a.jpg@1s", "b.jpg"])
    with pytest.raises(SettingsError, match="a transition needs"):
        timeline_from_styles(["a.jpg", "b.jpg"], transition=1.0)
    with pytest.raises(InputError, match="style file not found"):
        timeline_from_styles(["a.jpg", "nope.jpg@2s"])


def test_shot_keyframes_land_on_the_shot_starts(files: Path) -> None:
    text = """
[[keyframe]]
at = 0
style = "a.jpg"
[[keyframe]]
shot = 3
style = "b.jpg"
curve = "hold"
[[keyframe]]
shot = "2 + 1s"
style = "c.jpg"
curve = "hold"
"""
    shots = shot_list(50, 120)
    s, resolved, _ = schedule(files, text, shots=shots)
    frames = [(r.frame, r.shot) for r in resolved.keyframes]
    assert frames == [(0, 1), (75, 2), (120, 3)]
    assert mean_at(s, 2.96) == 0.0 and mean_at(s, 3.0) == 20.0 and mean_at(s, 4.8) == 10.0

    with pytest.raises(SettingsError, match="shot 3 does not exist: the video has 2 shots"):
        load_timeline(files / "t.toml").resolve(FPS, 500, shot_list(50))
    with pytest.raises(SettingsError, match="need the video's shot list"):
        load_timeline(files / "t.toml").resolve(FPS, 500)
    write(files, '[[keyframe]]\nshot = "1 - 2s"\nstyle = "a.jpg"\n')
    with pytest.raises(SettingsError, match="before the start"):
        load_timeline(files / "t.toml").resolve(FPS, 500, shots)


def test_detected_cut_times_place_shot_keyframes(files: Path) -> None:
    detected = ShotList(cuts=(50, 120), frames=500, fps=FPS, cut_times=(2.0, 4.8), duration=20.0)
    tl = load_timeline(write(files, KF_A + '[[keyframe]]\nshot = "3 + 0.2s"\nstyle = "b.jpg"\n'))
    assert [(r.frame, r.shot) for r in tl.resolve(FPS, 500, detected).keyframes] == [(0, 1), (125, 3)]


# --------------------------------------------------------------------------- #
# Validation
# --------------------------------------------------------------------------- #



@pytest.mark.parametrize(
    "text, error, message",
    [
        ('curv = "linear"\n' + KF_A, SettingsError, "t.toml: unknown key 'curv'"),
        ('[[keyframe]]\nat = 0\nstlye = "a.jpg"\n', SettingsError, "t.toml: keyframe 1: unknown key 'stlye'"),
        ('[[keyframe]]\nat = -1\nstyle = "a.jpg"\n', SettingsError, "keyframe 1: at = -1 is before the start"),
        ('[[keyframe]]\nat = "-0.5s"\nstyle = "a.jpg"\n', SettingsError, "keyframe 1: at: time '-0.5' is negative"),
        ('[[keyframe]]\nframe = -3\nstyle = "a.jpg"\n', SettingsError, "keyframe 1: frame = -3 is before the start"),
        ('[[keyframe]]\nstyle = "a.jpg"\n', SettingsError, "keyframe 1: give exactly one of at"),
        ('[[keyframe]]\nat = 0\nframe = 2\nstyle = "a.jpg"\n', SettingsError, "got at, frame"),
        ('[[keyframe]]\nat = 0\nstyles = ["a.jpg", "b.jpg"]\nweights = [0.5, 0.6]\n', SettingsError,
         "keyframe 1: weights: style weights 0.5, 0.6 sum to 1.1; they must sum to 1"),
        ('[[keyframe]]\nat = 0\nstyles = ["a.jpg", "b.jpg"]\nweights = [1.0]\n', SettingsError, "keyframe 1: weights: 1 style weights given for 2 styles"),
        ('[[keyframe]]\nat = 0\nstyle = "missing.jpg"\n', InputError, "keyframe 1: style: style file not found"),
        (KF_A + '[[keyframe]]\nat = 1\nmasks = ["nomask.png"]\n', InputError, "keyframe 2: masks: mask file not found"),
        ('[[keyframe]]\nat = 0\n', SettingsError, "the first keyframe needs a style"),
        ('', SettingsError, "no keyframes"),
        (KF_A + '[[keyframe]]\nat = 1\ncurve = "bouncy"\n', SettingsError, "keyframe 2: curve: curve = 'bouncy'"),
        (KF_A + '[[keyframe]]\nat = 1\nalpha = 2\n', SettingsError, "keyframe 2: alpha must be a number between 0 and 1, got 2"),
        (KF_A + '[[keyframe]]\nat = 1\ncurve = "hold"\ntransition = 1\n', SettingsError, "a transition needs"),
        (KF_A + '[[keyframe]]\nat = 1\nstyles = ["a.jpg", "b.jpg"]\nmasks = ["m.png", "m.png", "m.png"]\n',
         SettingsError, "3 masks for 2 styles"),
        ('[[keyframe]\n', InputError, "t.toml is not a valid TOML timeline"),
    ],
)
def test_parse_errors_name_the_file_key_and_problem(files: Path, text: str, error: type, message: str) -> None:
    with pytest.raises(error, match=message.replace("[", r"\[").replace("]", r"\]").replace(".", r"\.")):
        load_timeline(write(files, text))


@pytest.mark.parametrize(
    "text, message",
    [
        (KF_A + '[[keyframe]]\nframe = 0\nstyle = "b.jpg"\n',
         r"keyframe 2 and keyframe 1 fall on the same frame \(0\)"),
        (KF_A + '[[keyframe]]\nat = "00:00:00:00"\nstyle = "b.jpg"\n', "fall on the same frame"),
        (KF_A + '[[keyframe]]\nat = 4\nstyle = "b.jpg"\ntransition = 2\n'
         '[[keyframe]]\nat = 5\nstyle = "c.jpg"\ntransition = 2\n', "keyframe 3: its transition starts at 4.000 s"),
        (KF_A + '[[keyframe]]\nat = 4\nstyle = "b.jpg"\nmasks = ["m.png"]\n', "masks cannot be interpolated"),
    ],
)
def test_resolve_errors(files: Path, text: str, message: str) -> None:
    tl = load_timeline(write(files, text))
    with pytest.raises(SettingsError, match=message):
        tl.resolve(FPS, 500)


def test_keyframe_after_the_end_is_clamped_with_a_warning(files: Path) -> None:
    s, resolved, _ = schedule(files, KF_A + '[[keyframe]]\nat = 60\nstyle = "b.jpg"\n', frames=100)
    assert len(resolved.warnings) == 1
    assert "keyframe 2: 60.000 s is after the end of the video (last frame 99 at 3.960 s)" in resolved.warnings[0]
    assert (resolved.keyframes[1].frame, resolved.keyframes[1].time) == (99, 3.96)
    assert mean_at(s, 3.96) == 10.0
    # A cut through masks is fine; the same masks interpolate.
    tl = load_timeline(write(files, KF_A + '[[keyframe]]\nat = 2\nmasks = ["m.png"]\ncurve = "hold"\n'))
    assert tl.resolve(FPS, 100).warnings == ()


# --------------------------------------------------------------------------- #
# CLI: timeline check
# --------------------------------------------------------------------------- #


def test_cli_timeline_check_prints_the_schedule(files: Path, clip: Path) -> None:
    path = write(files, KF_A + '[[keyframe]]\nat = 0.5\nstyles = ["a.jpg", "b.jpg"]\nweights = [0.25, 0.75]\n'
                 'alpha = 0.8\ntransition = 0.2\n[[keyframe]]\nframe = 99\nstyle = "c.jpg"\n')
    res = CliRunner().invoke(main, ["timeline", "check", str(path), str(clip)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    out = res.stdout
    for text in ("time", "frame", "shot", "styles (weights)", "alpha", "00:00:00.500", "12", "a.jpg (0.25)",
                 "b.jpg (0.75)", "0.8", "linear 0.40-0.60 s", "00:00:00.920", "23"):
        assert text in out, text
    assert "keyframe 3" in res.stderr and "after the end" in res.stderr

    res = CliRunner().invoke(main, ["timeline", "check", str(write(files, '[[keyframe]]\nat = 0\nstyle = "zz.jpg"\n')), str(clip)])
    assert res.exit_code == 2 and "keyframe 1: style: style file not found" in res.output


@pytest.mark.parametrize("clip_name", ["vtest_audio.mp4", "vtest_5s.mp4"])
def test_the_example_timeline_fits_the_bundled_clips(clip_name: str) -> None:
    root = Path(__file__).resolve().parents[1]
    res = CliRunner().invoke(main, ["timeline", "check", str(root / "examples" / "timeline.toml"),
                                    str(root / "examples" / "media" / clip_name)], env={"COLUMNS": "200"})
    assert res.exit_code == 0, res.output
    assert res.stderr == ""  # no keyframe moved, nothing to warn about
    assert "00:00:04.000 │    40" in res.stdout and "smooth 2.50-3.50 s" in res.stdout


# --------------------------------------------------------------------------- #
# Pipeline hand-off and rendering (a randomly initialised decoder)
# --------------------------------------------------------------------------- #


def test_one_look_per_frame_is_the_look_of_each_frame_alone(stylizer, tmp_path: Path) -> None:
    """A batch of frames with different looks (a timeline) gives each frame what it gets on its own."""
    from PIL import Image

    from vidstyle.look import Look
    from vidstyle.masks import MaskLoader

    # One picture three times: the frames of the batch differ only by their looks.
    frames = torch.rand(1, 3, 32, 32).expand(3, -1, -1, -1)
    a, b = stylizer.load_style(DATA / "coffee.jpg"), stylizer.load_style(DATA / "chelsea.jpg")
    mask = tmp_path / "m.png"
    Image.fromarray(np.tile(np.linspace(0, 255, 32, dtype=np.uint8), (32, 1))).save(mask)
    masked = Look.of([a], masks=MaskLoader((32, 32)).load([mask]).stills)
    looks = [Look.of([a], alpha=0.7, preserve_color=True, color_method="luminance"), masked, Look.of([b])]
    together = stylizer.stylize(frames, looks)
    alone = torch.cat([stylizer.stylize(frames[i : i + 1], look) for i, look in enumerate(looks)])
    assert float((together - alone).abs().max()) < 1e-4  # float rounding of batched convolutions
    # The looks give pictures that differ far more than that, so a frame paired with another's look would fail.
    assert min(float((alone[i] - alone[j]).abs().mean()) for i, j in ((0, 1), (0, 2), (1, 2))) > 1e-3


def test_a_plain_run_is_a_timeline_of_one_keyframe(files: Path) -> None:
    from vidstyle.settings import StyleSettings
    from vidstyle.timeline import timeline_for

    tl = timeline_for(StyleSettings([files / "a.jpg", files / "b.jpg"], weights=(0.25, 0.75), alpha=0.5,
                                    preserve_color=True))
    s = StyleSchedule.build(tl.resolve(FPS, 500), FakeLoader())
    for frame in (0, 250, 499):
        look = s.look_at(frame, frame / 25)
        assert float(look.styles[0].mean[0]) == pytest.approx(7.5) and look.alpha == 0.5 and look.preserve_color == 1


def test_looks_interpolate_within_their_range() -> None:
    from vidstyle.look import Look

    a = StyleStats(torch.zeros(C), torch.ones(C), "enc")
    b = StyleStats(torch.full((C,), 10.0), torch.full((C,), 11.0), "enc")
    start, end = Look.of([a], alpha=0.3), Look.of([b], alpha=1.0, preserve_color=True)
    mid = start.towards(end, 0.25)
    assert float(mid.styles[0].mean[0]) == pytest.approx(2.5) and float(mid.styles[0].std[0]) == pytest.approx(3.5)
    assert mid.alpha == pytest.approx(0.475) and mid.preserve_color == pytest.approx(0.25)
    # Never outside the two looks' values, even for a fraction past the end (alpha stays valid).
    over = start.towards(end, 1.25)
    assert (over.alpha, over.preserve_color) == (1.0, 1.0)
    under = end.towards(start, 1.25)
    assert (under.alpha, under.preserve_color) == (0.3, 0.0)
    with pytest.raises(SettingsError, match="alpha must be"):
        Look.of([a], alpha=1.5)
    with pytest.raises(SettingsError, match="2 masks for 1 styles"):
        Look.of([a], masks=torch.zeros(1, 2, 4, 4))


def _decoded(path: Path) -> np.ndarray:
    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24").astype(np.float32) for f in c.decode(video=0)])


def test_render_follows_a_two_keyframe_timeline(stylizer, clip_factory, tmp_path: Path) -> None:
    from conftest import LOSSLESS
    from vidstyle.render import stylize_video
    from vidstyle.settings import Span, SteadySettings, StyleSettings

    clip = clip_factory(ClipSpec("src", width=64, height=48, frames=10))
    a, b = DATA / "coffee.jpg", DATA / "chelsea.jpg"
    timeline = write(tmp_path, f'[[keyframe]]\nat = 0\nstyle = "{a}"\n[[keyframe]]\nframe = 6\nstyle = "{b}"\n'
                     'curve = "hold"\n[[keyframe]]\nat = 99\nalpha = 0.5\ncurve = "hold"\n')
    calls: list[str] = []
    load = stylizer.load_style

    def counting(path, *args):
        calls.append(Path(path).name)
        return load(path, *args)

    stylizer.load_style = counting
    try:
        # Each frame on its own, to compare frame by frame with the one-style renders.
        opts = dict(stylizer=stylizer, encode=LOSSLESS, steady=SteadySettings(enabled=False))
        res = stylize_video(clip, tmp_path / "tl.mp4", StyleSettings(timeline=timeline), **opts)
    finally:
        del stylizer.load_style
    assert res.frames == 10 and sorted(calls) == ["chelsea.jpg", "coffee.jpg"]
    assert any("after the end" in w for w in res.warnings)
    only_a = _decoded(stylize_video(clip, tmp_path / "a.mp4", StyleSettings([a]), **opts).output)
    only_b = _decoded(stylize_video(clip, tmp_path / "b.mp4", StyleSettings([b]), **opts).output)
    half_b = _decoded(stylize_video(clip, tmp_path / "hb.mp4", StyleSettings([b], alpha=0.5), **opts).output)
    out = _decoded(res.output)
    assert len(out) == 10

    def dist(x, y):
        return float(np.abs(x - y).mean())

    # Lossless encoding: the same input gives the same pixels, up to yuv420 rounding.
    for i in range(6):
        assert dist(out[i], only_a[i]) < 0.1 * dist(out[i], only_b[i]), i
    for i in (6, 7, 8):
        assert dist(out[i], only_b[i]) < 0.1 * dist(out[i], only_a[i]), i
    # The keyframe past the end is clamped onto the last frame.
    assert dist(out[9], half_b[9]) < 0.1 * dist(out[9], only_b[9])

    # A farm-style chunk renders the same frames as the whole run.
    part = _decoded(stylize_video(clip, tmp_path / "part.mp4", StyleSettings(timeline=timeline),
                                  span=Span(frames=(4, 8)), **opts).output)
    assert max(dist(part[k], out[4 + k]) for k in range(4)) < 0.1 * dist(out[5], only_b[5])


def test_cli_run_style_at_shorthand(stylizer, clip_factory, tmp_path: Path, monkeypatch) -> None:
    import vidstyle.render as render

    monkeypatch.setattr(render, "Stylizer", lambda *args, **kwargs: stylizer)
    clip = clip_factory(ClipSpec("sh", width=64, height=48, frames=6))
    a, b = DATA / "coffee.jpg", DATA / "chelsea.jpg"
    runner = CliRunner()
    base = ["run", str(clip), "--size", "64", "--preset", "ultrafast", "--quiet", "-y"]
    res = runner.invoke(main, [*base, "--style", str(a), "--style", f"{b}@0.12s", "--transition", "0.08s",
                               "-o", str(tmp_path / "o.mp4")])
    assert res.exit_code == 0, res.output
    assert len(_decoded(tmp_path / "o.mp4")) == 6

    res = runner.invoke(main, [*base, "--style", str(a), "--timeline", str(tmp_path / "t.toml")])
    assert res.exit_code == 2 and "a timeline sets styles" in res.output and "--timeline, --style" in res.output
    res = runner.invoke(main, [*base, "--style", str(a), "--style", f"{b}@1s", "--style-weights", "0.5,0.5"])
    assert res.exit_code == 2 and "need a --timeline file" in res.output
    res = runner.invoke(main, [*base, "--style", str(a), "--style", f"{b}@-1s"])
    assert res.exit_code == 2, res.output
    res = runner.invoke(main, [*base])
    assert res.exit_code == 2 and "give at least one style, or a timeline (options --style, --timeline)" in res.output
