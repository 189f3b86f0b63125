"""The preview page: which frames, what the page holds, and that a real browser (headless Chromium) shows it."""
from __future__ import annotations

import re
import shutil
import subprocess
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

from vidstyle._cli import main
from vidstyle.errors import OutputError, SettingsError
from vidstyle.preview import choose_frames, preview
from vidstyle.settings import ModelSettings, StyleSettings
from vidstyle.timeline import timeline_from_styles

DATA = Path(__file__).parent / "data"
MODEL = ModelSettings(size=64, device="cpu")


def _resolved(frames: int = 100, fps: int = 25):
    tl = timeline_from_styles([DATA / "chelsea.jpg", f"{DATA / 'coffee.jpg'}@2s"], transition=1.0)
    return tl.resolve(Fraction(fps), frames)


def test_choose_frames() -> None:
    resolved = _resolved()  # keyframes at frames 0 and 50, a change from 1.5 s to 2.5 s (frames 37-62)
    chosen, warnings = choose_frames(resolved, 100, cuts=[20, 80], count=8)
    why = dict(chosen)
    assert why[0] == ("keyframe 1",) and "keyframe 2" in why[50]
    assert "middle of the change into keyframe 2" in why[50]
    assert why[19] == ("last frame of shot 1",) and why[20] == ("first frame of shot 2",)
    assert 79 in why and 80 in why
    assert len(chosen) == 8 and warnings == []  # 6 required, topped up with evenly spaced frames
    assert all(w == ("evenly spaced",) for i, w in chosen if i not in (0, 19, 20, 50, 79, 80))
    many, warnings = choose_frames(resolved, 100, cuts=list(range(5, 100, 5)), count=4, limit=10)
    assert len(many) == 10 and "left out" in warnings[0]


def test_preview_page(stylizer, clip: Path, tmp_path: Path) -> None:
    out = tmp_path / "p.html"
    style = StyleSettings(timeline=timeline_from_styles([DATA / "chelsea.jpg", f"{DATA / 'coffee.jpg'}@0.5s"], 0.2))
    result = preview(clip, out, style, model=MODEL, count=4, stylizer=stylizer)
    page = out.read_text()
    assert len(result.frames) == 4 and page.count("<img ") == 8
    assert [f.index for f in result.frames][:1] == [0] and any("keyframe 2" in f.reasons for f in result.frames)
    middle = next(f for f in result.frames if "middle of the change into keyframe 2" in f.reasons)
    assert "→" in middle.style and "chelsea.jpg" in middle.style
    assert "00:00:00:12" in page and "http" not in page.replace("http-equiv", "")  # self-contained
    with pytest.raises(OutputError, match="already exists"):
        preview(clip, out, style, model=MODEL, stylizer=stylizer)
    with pytest.raises(SettingsError, match="name it .html"):
        preview(clip, tmp_path / "p.png", style, model=MODEL, stylizer=stylizer)


def _chromium() -> str | None:
    return shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")


@pytest.mark.skipif(_chromium() is None, reason="no Chromium on this machine (CI installs Debian's chromium)")
def test_page_in_headless_chromium(random_weights, sequence_factory, tmp_path: Path) -> None:
    """The CLI's page from an EXR sequence: Chromium loads it without errors and every picture decodes."""
    src = sequence_factory("exr", "half", frames=8)
    out = tmp_path / "preview.html"
    result = CliRunner().invoke(main, ["preview", src, "--style", str(DATA / "chelsea.jpg"), "--style",
                                       f"{DATA / 'coffee.jpg'}@4f", "--fps", "24", "--count", "4", "--size", "64",
                                       "--device", "cpu", "-o", str(out)])
    assert result.exit_code == 0, result.output
    profile = tmp_path / "profile"
    profile.mkdir()
    flags = [_chromium(), "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={profile}", "--enable-logging=stderr", "--v=0", "--virtual-time-budget=5000"]
    dom = subprocess.run([*flags, "--dump-dom", out.as_uri()], capture_output=True, text=True, timeout=120)
    assert dom.returncode == 0, dom.stderr[-2000:]
    body = re.search(r"<body[^>]*>", dom.stdout).group(0)
    images = re.search(r'data-images-loaded="(\d+)/(\d+)"', body)
    assert images is not None and images.group(1) == images.group(2) != "0", body
    assert 'data-errors=""' in body, body
    # Chromium logs the page's console messages and uncaught errors as CONSOLE lines.
    console = [line for line in dom.stderr.splitlines() if ":CONSOLE" in line]
    assert console == [], console
    shot = tmp_path / "shot.png"
    subprocess.run([*flags, f"--screenshot={shot}", "--window-size=1200,900", "--hide-scrollbars", out.as_uri()],
                   capture_output=True, timeout=120, check=True)
    assert shot.stat().st_size > 10_000
