"""Editorial timelines: cut points and style markers from OTIO files, EDLs made by the library, a hand-written EDL.

Edits are built with OpenTimelineIO itself and written through its adapters
(otio_json, cmx_3600), except one CMX 3600 EDL written by hand in Avid's
convention (record timecodes from 01:00:00:00, locators at record timecode).
"""
from __future__ import annotations

import shutil
from fractions import Fraction
from pathlib import Path

import pytest
from click.testing import CliRunner

otio = pytest.importorskip("opentimelineio", reason="the otio extra (in dev) is not installed")
from opentimelineio import opentime as ot  # noqa: E402

from vidstyle._cli import main  # noqa: E402
from vidstyle.editorial import parse_marker, read_edit, write_shot_list  # noqa: E402
from vidstyle.errors import SettingsError  # noqa: E402
from vidstyle.shots import ShotList  # noqa: E402
from vidstyle.timeline import load_timeline  # noqa: E402

DATA = Path(__file__).parent / "data"
RATE = 25


def _rt(frames: int) -> ot.RationalTime:
    return ot.RationalTime(frames, RATE)


def _clip(name: str, start: int, frames: int, url: str | None = None) -> otio.schema.Clip:
    ref = otio.schema.ExternalReference(target_url=url or f"file:///media/{name}.mov")
    return otio.schema.Clip(name=name, media_reference=ref, source_range=ot.TimeRange(_rt(start), _rt(frames)))


def _marker(name: str, frame: int, **metadata) -> otio.schema.Marker:
    m = otio.schema.Marker(name=name, marked_range=ot.TimeRange(_rt(frame), _rt(0)))
    m.metadata.update(metadata)
    return m


@pytest.fixture
def styles(tmp_path: Path) -> Path:
    for name in ("a.jpg", "b.jpg"):
        shutil.copy(DATA / "chelsea.jpg", tmp_path / name)
    return tmp_path


def test_otio_cuts_and_markers(styles: Path) -> None:
    """Clips, a gap, a dissolve, a through edit; markers on a clip (source time), the track and in metadata."""
    tl = otio.schema.Timeline(name="cut")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    first = _clip("walk", 100, 8)
    first.markers.append(_marker("style=a.jpg", 102))  # source frame 102 = edit frame 2
    track.append(first)
    track.append(_clip("walk", 108, 4))  # the same source continuing: a through edit, no cut
    track.append(otio.schema.Gap(source_range=ot.TimeRange(_rt(0), _rt(4))))  # frames 12-15: black
    track.append(_clip("street", 0, 6))
    track.append(otio.schema.Transition(in_offset=_rt(2), out_offset=_rt(2)))  # a dissolve: its cut point counts
    track.append(_clip("park", 50, 6))
    track.markers.append(_marker("notes only", 20))  # carries nothing: left alone
    track.markers.append(_marker("b", 19, vidstyle={"style": "b.jpg", "alpha": 0.5, "transition": "4f"}))
    path = styles / "cut.otio"
    otio.adapters.write_to_file(tl, str(path))

    edit = read_edit(path)
    assert edit.rate == RATE and edit.duration == Fraction(28, RATE)
    assert edit.cuts == (Fraction(12, RATE), Fraction(16, RATE), Fraction(22, RATE))
    assert [(m.time * RATE, m.settings) for m in edit.markers] == [
        (2, {"style": "a.jpg"}), (19, {"style": "b.jpg", "alpha": "0.5", "transition": "4f"})]
    shots = edit.shot_list(Fraction(RATE), 28)
    assert shots.cuts == (12, 16, 22) and shots.settings.method == "edit:cut.otio"
    timeline = edit.timeline()
    resolved = timeline.resolve(Fraction(RATE), 28)
    assert [(k.frame, k.keyframe.styles[0].name, k.keyframe.alpha) for k in resolved.keyframes] == [
        (2, "a.jpg", 1.0), (19, "b.jpg", 0.5)]
    assert resolved.keyframes[1].change_start == pytest.approx(17 / RATE)  # 4 frames centred on frame 19
    # The same edit at another video rate: cuts are placed by time.
    assert edit.shot_list(Fraction(50), 56).cuts == (24, 32, 44)


def test_edl_written_by_the_library(styles: Path) -> None:
    """OTIO's EDL writer: locators at the clip's source timecode, names in capitals."""
    tl = otio.schema.Timeline(name="cut")
    track = otio.schema.Track(kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    track.append(_clip("one", 0, 10))
    second = _clip("two", 125, 12)
    second.markers.append(_marker("style=B.jpg alpha=0.8", 130))  # frame 5 of the clip -> edit frame 15
    track.append(second)
    track.append(_clip("three", 250, 8))
    path = styles / "cut.edl"
    otio.adapters.write_to_file(tl, str(path), adapter_name="cmx_3600")
    assert "STYLE=B.JPG ALPHA=0.8" in path.read_text()  # the writer's capitals

    edit = read_edit(path, rate=RATE)
    assert [t * RATE for t in edit.cuts] == [10, 22]
    keyframes = edit.timeline().resolve(Fraction(RATE), 30).keyframes
    assert [(k.frame, k.keyframe.styles[0].name, k.keyframe.alpha) for k in keyframes] == [(15, "b.jpg", 0.8)]


HAND_EDL = """TITLE: HAND CUT
FCM: NON-DROP FRAME

001  A001     V     C        00:00:10:00 00:00:10:08 01:00:00:00 01:00:00:08
* FROM CLIP NAME: walk.mov
* LOC: 01:00:00:02 RED     style=a.jpg
002  A002     V     C        00:01:00:00 00:01:00:08 01:00:00:08 01:00:00:16
* FROM CLIP NAME: street.mov
* LOC: 01:00:00:12 BLUE    style=b.jpg transition=0.16
003  A003     V     C        00:02:00:00 00:02:00:08 01:00:00:16 01:00:00:24
* FROM CLIP NAME: park.mov
"""


def test_hand_written_edl(styles: Path, clip: Path) -> None:
    """Avid's convention: record timecode from 01:00:00:00, locators at record timecode."""
    path = styles / "hand.edl"
    path.write_text(HAND_EDL)
    edit = read_edit(path, rate=RATE)
    assert edit.record_start == 3600 and [t * RATE for t in edit.cuts] == [8, 16]
    assert [(m.time * RATE, m.timecode) for m in edit.markers] == [(2, "01:00:00:02"), (12, "01:00:00:12")]
    with pytest.raises(SettingsError, match="an EDL has no frame rate"):
        read_edit(path)
    # As a timeline (markers -> keyframes), through the same door as a TOML file.
    resolved = load_timeline(path, fps=RATE).resolve(Fraction(RATE), 24)
    assert [k.frame for k in resolved.keyframes] == [2, 12]

    # The cuts as the shot list of a render: a keyframe by shot lands on the edit's shot 3 (frame 16),
    # where detection would find no cut in this gradient clip.
    toml = styles / "t.toml"
    toml.write_text('[[keyframe]]\nframe = 0\nstyle = "a.jpg"\n[[keyframe]]\nshot = 3\nstyle = "b.jpg"\n'
                    'transition = 0\n')
    result = CliRunner().invoke(main, ["timeline", "check", str(toml), str(clip), "--edit", str(path)])
    assert result.exit_code == 0, result.output
    row = next(line for line in result.output.splitlines() if "b.jpg" in line)
    assert "16" in row.split() and "3" in row.split()
    # An EDL's clips do not match the video's length: said, not fatal.
    short = styles / "short.edl"
    short.write_text(HAND_EDL.replace("01:00:00:16 01:00:00:24", "01:00:00:16 01:00:00:20").replace(
        "00:02:00:08", "00:02:00:04"))
    result = CliRunner().invoke(main, ["timeline", "check", str(toml), str(clip), "--edit", str(short)])
    assert result.exit_code == 0 and "is the video the render of this edit?" in result.output


def test_run_with_an_edit(random_weights, styles: Path, clip: Path, tmp_path: Path) -> None:
    """`vidstyle run --edit` alone: the edit's markers are the timeline, its cuts the shots."""
    path = styles / "hand.edl"
    path.write_text(HAND_EDL)
    out = tmp_path / "o.mp4"
    result = CliRunner().invoke(main, ["run", str(clip), "--edit", str(path), "--size", "64", "--device", "cpu",
                                       "--preset", "ultrafast", "-o", str(out), "--quiet"])
    assert result.exit_code == 0, result.output
    assert out.exists()
    bad = styles / "bad.edl"
    bad.write_text(HAND_EDL.replace("style=b.jpg", "style=missing.jpg"))
    result = CliRunner().invoke(main, ["run", str(clip), "--edit", str(bad), "-o", str(tmp_path / "x.mp4")])
    assert result.exit_code == 2 and "missing.jpg" in result.output and "Traceback" not in result.output


def test_shot_list_written_as_an_edit(tmp_path: Path, clip: Path) -> None:
    shots = ShotList(cuts=(5, 13), frames=24, fps=Fraction(RATE), cut_times=(0.2, 0.52), duration=0.96)
    for name in ("shots.otio", "shots.edl", "shots.xml"):  # OTIO, CMX 3600, FCP 7 XML
        dest = write_shot_list(shots, tmp_path / name, clip)
        edit = read_edit(dest, rate=RATE)
        assert edit.shot_list(Fraction(RATE), 24).cuts == (5, 13)
        assert edit.duration == Fraction(24, RATE)
    with pytest.raises(Exception, match="already exists"):
        write_shot_list(shots, tmp_path / "shots.otio", clip)
    result = CliRunner().invoke(main, ["shots", str(clip), "--export", str(tmp_path / "det.otio"), "--quiet"])
    assert result.exit_code == 0, result.output
    assert read_edit(tmp_path / "det.otio").cuts == ()  # a gradient clip: one shot


def test_marker_text() -> None:
    assert parse_marker("style=a.jpg alpha=0.5") == {"style": "a.jpg", "alpha": "0.5"}
    assert parse_marker("STYLES=A.JPG,B.JPG WEIGHTS=0.3,0.7") == {"styles": "A.JPG,B.JPG", "weights": "0.3,0.7"}
    assert parse_marker("fix the sky", {"vidstyle": {"style": "a.jpg"}}) == {"style": "a.jpg"}
    assert parse_marker("fix the sky") == {}
