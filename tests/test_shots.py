"""Shot detection: cuts found exactly on synthetic clips, the shot list, its cache and `vidstyle shots`."""
from __future__ import annotations

import csv
import re
import io
import json
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
import torch
from click.testing import CliRunner

import vidstyle.shots as shots_mod
from vidstyle._cli import main
from vidstyle.errors import InputError, SettingsError
from vidstyle.shots import ShotList, ShotSettings, cache_path, cut_scores, detect_shots, pick_cuts, shots_for
from vidstyle.video import FrameReader

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "media" / "vtest_5s.mp4"
W, H = 96, 64
FPS = Fraction(25)

# Each shot: a colour family and a texture that moves every frame.
PALETTES = [(230, 60, 40), (40, 200, 70), (50, 80, 230), (220, 210, 60), (180, 60, 200), (60, 200, 210)]


def _texture(seed: int) -> np.ndarray:
    """Blocky noise (visible motion after coding), wide enough to scroll across for 400 px."""
    rng = np.random.default_rng(seed)
    small = rng.random((H // 8 + 1, (W + 400) // 8 + 1))
    return np.kron(small, np.ones((8, 8)))


def shot_frames(k: int, count: int, speed: int = 2) -> list[np.ndarray]:
    """``count`` frames of shot style ``k``: a coloured texture scrolling ``speed`` px a frame, with a gradient."""
    tex = _texture(k)
    colour = np.array(PALETTES[k % len(PALETTES)], np.float32)
    x = np.mgrid[0:H, 0:W][1]
    frames = []
    for i in range(count):
        t = tex[:H, i * speed : i * speed + W]
        shade = 0.55 + 0.35 * t + 0.1 * (x / W)
        frames.append(np.clip(colour[None, None] * shade[..., None], 0, 255).astype(np.uint8))
    return frames


def write_clip(path: Path, frames: list[np.ndarray], fps: Fraction = FPS) -> Path:
    out = av.open(str(path), "w")
    v = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "crf": "18", "g": "12"})
    h, w = frames[0].shape[:2]
    v.width, v.height, v.pix_fmt = w, h, "yuv420p"
    for i, arr in enumerate(frames):
        f = av.VideoFrame.from_ndarray(np.ascontiguousarray(arr), format="rgb24")
        f.pts, f.time_base = i, 1 / fps
        out.mux(v.encode(f))
    out.mux(v.encode())
    out.close()
    return path


def cut_clip(path: Path, lengths: list[int]) -> tuple[Path, tuple[int, ...]]:
    frames, cuts = [], []
    for k, n in enumerate(lengths):
        if k:
            cuts.append(len(frames))
        frames += shot_frames(k, n)
    return write_clip(path, frames), tuple(cuts)


# --------------------------------------------------------------------------- #
# Detection
# --------------------------------------------------------------------------- #


def test_hard_cuts_found_exactly(tmp_path):
    path, truth = cut_clip(tmp_path / "cuts.mp4", [20, 25, 15, 30, 18])
    result = detect_shots(path, device="cpu")
    assert result.cuts == truth
    assert result.frames == 108
    assert result.cut_times == pytest.approx([c / 25 for c in truth])
    assert result.shots()[0] == (0, 20) and result.shots()[-1] == (90, 108)


def test_cuts_in_real_footage_joined_with_other_content(tmp_path):
    with FrameReader(SAMPLE, scale_to=(W, H)) as r:
        real = [f for b in r.iter_batches(25) for f in (b.rgb.permute(0, 2, 3, 1).mul(255).round().byte().numpy())]
    frames = real[0:20] + shot_frames(3, 20) + real[30:50] + shot_frames(1, 16)
    path = write_clip(tmp_path / "joined.mp4", frames)
    assert detect_shots(path, device="cpu").cuts == (20, 40, 60)


def test_no_cut_in_motion_without_cut(tmp_path):
    frames = shot_frames(2, 60, speed=5)
    # Let the light drift too: a steady change is not a cut.
    frames = [np.clip(f.astype(np.int16) + i, 0, 255).astype(np.uint8) for i, f in enumerate(frames)]
    path = write_clip(tmp_path / "motion.mp4", frames)
    assert detect_shots(path, device="cpu").cuts == ()


def test_min_shot_length_respected(tmp_path):
    # Shot of 4 frames at 20..24: too short for 10-frame shots, kept at 3.
    path, truth = cut_clip(tmp_path / "short.mp4", [20, 4, 26])
    assert truth == (20, 24)
    long = detect_shots(path, device="cpu", settings=ShotSettings(min_shot_frames=10))
    assert len(long.cuts) == 1 and long.cuts[0] in truth
    assert all(b - a >= 10 for a, b in long.shots())
    assert long.settings.min_shot_frames == 10
    assert detect_shots(path, device="cpu", settings=ShotSettings(min_shot_frames=3)).cuts == truth


def test_default_min_shot_is_half_a_second(tmp_path):
    path, _ = cut_clip(tmp_path / "c.mp4", [20, 20])
    assert detect_shots(path, device="cpu").settings.min_shot_frames == 12  # round(12.5), at 25 fps


def _blend(a: np.ndarray, b: np.ndarray, t: float) -> np.ndarray:
    return (a.astype(np.float32) * (1 - t) + b.astype(np.float32) * t).round().astype(np.uint8)


def test_dissolve_is_not_a_cut(tmp_path):
    a, b = shot_frames(0, 45), shot_frames(2, 45)
    n = 15  # a 0.6 s dissolve between frames 20 and 35
    frames = a[:20] + [_blend(a[20 + i], b[i], (i + 1) / (n + 1)) for i in range(n)] + b[n:]
    path = write_clip(tmp_path / "dissolve.mp4", frames)
    assert detect_shots(path, device="cpu").cuts == ()


def test_fade_through_black_is_not_a_cut(tmp_path):
    a, b = shot_frames(1, 30), shot_frames(4, 30)
    black = np.zeros_like(a[0])
    fade_out = [_blend(a[20 + i], black, (i + 1) / 10) for i in range(10)]
    fade_in = [_blend(black, b[i], (i + 1) / 10) for i in range(10)]
    path = write_clip(tmp_path / "fade.mp4", a[:20] + fade_out + fade_in + b[10:])
    assert detect_shots(path, device="cpu").cuts == ()


def test_batch_size_does_not_change_the_result(tmp_path):
    path, truth = cut_clip(tmp_path / "b.mp4", [16, 20, 14])
    assert detect_shots(path, device="cpu", batch_size=7).cuts == detect_shots(path, device="cpu").cuts == truth


def test_cut_scores_shape_and_device():
    x = torch.rand(5, 3, 24, 32)
    s = cut_scores(x)
    assert s.shape == (5,) and s.device == x.device and s[0] == 0
    assert torch.all((s >= 0) & (s <= 1))
    assert cut_scores(x[:1]).tolist() == [0.0]
    with pytest.raises(ValueError, match=r"\(B, 3, h, w\)"):
        cut_scores(torch.rand(5, 24, 32))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs CUDA")
def test_cut_scores_on_cuda_match_cpu():
    x = torch.rand(9, 3, 48, 64)
    torch.testing.assert_close(cut_scores(x.cuda()).cpu(), cut_scores(x), atol=1e-4, rtol=0)


def test_pick_cuts_adaptive_floor_and_hard_threshold():
    s = ShotSettings(min_shot_frames=2)
    busy = [0.0] + [0.2, 0.25] * 10  # fast motion everywhere: nothing stands out
    assert pick_cuts(busy, s) == ()
    spike = [0.0, 0.01, 0.012, 0.3, 0.01, 0.011, 0.01]
    assert pick_cuts(spike, s) == (3,)
    small = [0.0, 0.001, 0.001, 0.01, 0.001, 0.001, 0.001]  # stands out but under the floor
    assert pick_cuts(small, s) == ()
    hard = [0.0, 0.3, 0.3, 0.6, 0.3, 0.3, 0.3]  # a cut inside fast motion
    assert pick_cuts(hard, s) == (3,)
    with pytest.raises(ValueError, match="resolved"):
        pick_cuts(spike, ShotSettings())


def test_bad_input_errors(tmp_path):
    with pytest.raises(InputError, match="no such file"):
        detect_shots(tmp_path / "missing.mp4")
    junk = tmp_path / "junk.mp4"
    junk.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InputError):
        detect_shots(junk)
    with pytest.raises(SettingsError, match="threshold"):
        ShotSettings(threshold=2).check()


# --------------------------------------------------------------------------- #
# The shot list
# --------------------------------------------------------------------------- #


def _example() -> ShotList:
    return ShotList(cuts=(10, 25), frames=40, fps=Fraction(30000, 1001), cut_times=(0.3337, 0.8342),
                    duration=1.3347, settings=ShotSettings(min_shot_frames=5))


def test_shotlist_queries():
    s = _example()
    assert s.count == 3
    assert s.shots() == [(0, 10), (10, 25), (25, 40)]
    assert [s.shot_of(f) for f in (0, 9, 10, 24, 25, 39)] == [1, 1, 2, 2, 3, 3]
    assert [s.start_of(n) for n in (1, 2, 3)] == [0, 10, 25]
    assert [s.end_of(n) for n in (1, 2, 3)] == [10, 25, 40]
    assert s.times()[1] == (0.3337, 0.8342)
    with pytest.raises(SettingsError, match="shot 4 does not exist: the video has 3 shots"):
        s.start_of(4)
    with pytest.raises(SettingsError, match="outside the video"):
        s.shot_of(40)
    with pytest.raises(ValueError):
        ShotList(cuts=(0,), frames=10, fps=Fraction(25), cut_times=(0.0,), duration=0.4)


def test_shotlist_json_round_trip():
    s = _example()
    back = ShotList.from_json(s.to_json())
    assert back == s and back.fps == Fraction(30000, 1001)
    data = json.loads(s.to_json())
    assert data["shots"][1]["start_frame"] == 10 and data["shots"][1]["start_timecode"] == "00:00:00.334"
    with pytest.raises(InputError, match="not a vidstyle shot list"):
        ShotList.from_json('{"format": "other"}')
    with pytest.raises(InputError, match="not a vidstyle shot list"):
        ShotList.from_json("[1, 2")


# --------------------------------------------------------------------------- #
# The cache
# --------------------------------------------------------------------------- #


@pytest.fixture
def counted(monkeypatch):
    """Count the real detection passes made through shots_for."""
    calls = []
    real = shots_mod.detect_shots

    def counting(*args, **kwargs):
        calls.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(shots_mod, "detect_shots", counting)
    return calls


def test_cache_written_reused_and_invalidated(tmp_path, counted):
    path, truth = cut_clip(tmp_path / "c.mp4", [20, 20])
    first = shots_for(path, device="cpu")
    cache = cache_path(path)
    assert first.cuts == truth and cache.is_file()
    assert not list(cache.parent.glob("*partial*"))
    assert ShotList.from_json(cache.read_text()) == first
    assert shots_for(path, device="cpu") == first
    assert len(counted) == 1  # reused, not detected again
    # Other settings: detected again.
    shots_for(path, device="cpu", settings=ShotSettings(min_shot_frames=3))
    assert len(counted) == 2
    # The input changes: the cache no longer applies.
    cut_clip(path, [15, 15, 15])
    again = shots_for(path, device="cpu")
    assert len(counted) == 3 and again.cuts == (15, 30)
    # A damaged cache is ignored and replaced.
    cache.write_text("{broken")
    assert shots_for(path, device="cpu").cuts == (15, 30)
    assert len(counted) == 4
    # No cache: neither read nor written.
    cache.unlink()
    shots_for(path, device="cpu", cache=False)
    assert len(counted) == 5 and not cache.exists()


def test_cache_lives_in_the_user_cache_folder_or_where_asked(tmp_path, monkeypatch, counted, capsys):
    footage = tmp_path / "footage"
    footage.mkdir()
    path, truth = cut_clip(footage / "c.mp4", [20, 20])
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert shots_for(path, device="cpu").cuts == truth
    assert sorted(p.name for p in footage.iterdir()) == ["c.mp4"]  # nothing written beside the footage
    assert cache_path(path).parent == tmp_path / "xdg" / "vidstyle" / "shots" and cache_path(path).is_file()
    # Another folder, when asked.
    elsewhere = tmp_path / "cache"
    assert shots_for(path, device="cpu", cache_dir=elsewhere).cuts == truth
    assert cache_path(path, elsewhere).is_file() and len(counted) == 2
    assert shots_for(path, device="cpu", cache_dir=elsewhere).cuts == truth and len(counted) == 2
    # A folder that cannot be written: still a result, no cache, nothing printed.
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    assert shots_for(path, device="cpu", cache_dir=blocker / "x").cuts == truth
    out = capsys.readouterr()
    assert out.out == "" and out.err == ""


# --------------------------------------------------------------------------- #
# The command
# --------------------------------------------------------------------------- #


@pytest.fixture
def cut_video(tmp_path) -> tuple[Path, tuple[int, ...]]:
    return cut_clip(tmp_path / "v.mp4", [20, 25, 15])


def test_cli_table(cut_video):
    path, _ = cut_video
    r = CliRunner().invoke(main, ["shots", str(path), "--no-cache"])
    assert r.exit_code == 0, r.output
    assert "3 shots, 60 frames" in r.output
    assert "00:00:00.800" in r.output and "00:00:01.800" in r.output
    assert not cache_path(path).exists()


def test_cli_json(cut_video):
    path, truth = cut_video
    r = CliRunner().invoke(main, ["shots", str(path), "--json"])
    assert r.exit_code == 0, r.output
    data = json.loads(r.stdout)
    assert tuple(data["cuts"]) == truth
    assert [(s["start_frame"], s["end_frame"]) for s in data["shots"]] == [(0, 20), (20, 45), (45, 60)]
    assert cache_path(path).is_file()
    r = CliRunner().invoke(main, ["shots", str(path), "--json", "--shots-cache", str(path.parent / "cache")])
    assert r.exit_code == 0 and cache_path(path, path.parent / "cache").is_file()


def test_cli_csv_and_options(cut_video):
    path, _ = cut_video
    r = CliRunner().invoke(main, ["shots", str(path), "--csv", "--min-shot", "18", "--no-cache"])
    assert r.exit_code == 0, r.output
    rows = list(csv.DictReader(io.StringIO(r.stdout)))
    assert all(int(row["frames"]) >= 18 for row in rows)
    assert rows[0]["start_frame"] == "0" and rows[0]["start_timecode"] == "00:00:00.000"
    assert rows[-1]["end_frame"] == "60"


def test_cli_errors(tmp_path, cut_video):
    r = CliRunner().invoke(main, ["shots", str(tmp_path / "missing.mp4")])
    assert r.exit_code == 2
    assert "no such file" in r.output and len(r.output.strip().splitlines()) == 1
    r = CliRunner().invoke(main, ["shots", str(cut_video[0]), "--threshold", "1.5"])
    assert r.exit_code == 2


def test_timeline_check_places_shot_keyframes_on_detected_cuts(cut_video, tmp_path):
    # A timeline that names shots gets the detected list (and caches it): the
    # keyframe for shot 2 lands on the first frame after the cut.
    path, cuts = cut_video
    style = Path(__file__).parent / "data" / "coffee.jpg"
    tl = tmp_path / "t.toml"
    tl.write_text(f'[[keyframe]]\nat = 0\nstyle = "{style}"\n[[keyframe]]\nshot = 2\nalpha = 0.5\ncurve = "hold"\n')
    r = CliRunner().invoke(main, ["timeline", "check", str(tl), str(path)])
    assert r.exit_code == 0, r.stderr
    # The row of the second keyframe: frame = the cut, shot 2.
    assert re.search(rf"│\s+{cuts[0]}\s+│\s+2\s+│", r.output), r.output
    assert cache_path(path).exists()
