"""Farm renders: plan, chunks, assembly, resume, tampering, and the Ray executor.

All on tiny clips (64x48, 30 frames) at --size 64 with the random decoder.
"""
from __future__ import annotations

import json
import os
import shutil
import sys
from fractions import Fraction
from pathlib import Path

import av
import numpy as np
import pytest
from click.testing import CliRunner

from conftest import ClipSpec, make_clip
from mediautil import audio_packets, frame_times, frames_rgb
from vidstyle._cli import main
from vidstyle.errors import RenderError, SettingsError
from vidstyle.farm import assemble, chunk_state, load_plan, make_plan, render_chunk
from vidstyle.farm.executors import plan_status, run_job
from vidstyle.farm.plan import DEFAULT_WARMUP

DATA = Path(__file__).parent / "data"
W, H = 64, 48


class FaultyRender:
    """``render_chunk`` whose first attempt at some chunks fails after their first frames are written.

    ``faults`` maps a chunk index to ``"raise"`` (a render error) or ``"exit"``
    (the process dies, as a crashed worker does, leaving its partial file). A
    flag file in the plan folder makes each fault fire once, whichever process
    retries the chunk.
    """

    def __init__(self, faults: dict[int, str]) -> None:
        self.faults = faults

    def __call__(self, plan, index: int, **kwargs):
        mode = self.faults.get(index)
        if mode is not None:
            try:
                os.close(os.open(plan.folder / f".fault-{index}", os.O_WRONLY | os.O_CREAT | os.O_EXCL))
            except FileExistsError:
                mode = None  # fired already: this is the retry
        if mode is None:
            return render_chunk(plan, index, **kwargs)

        def fail(done: int, total: int | None) -> None:
            if mode == "exit":
                os._exit(17)
            raise RenderError(f"injected fault in chunk {index}")

        return render_chunk(plan, index, on_progress=fail)


def _shot_clip(folder: Path) -> Path:
    """30 frames with a hard cut at frame 15 (two unrelated pictures), 25 fps."""
    path = folder / "shots.mp4"
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=25, options={"g": "6", "preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = W, H, "yuv420p"
        y, x = np.mgrid[0:H, 0:W]
        for i in range(30):
            img = np.zeros((H, W, 3), np.uint8)
            if i < 15:
                img[..., 0] = (x * 4 + i * 3) % 256
                img[..., 1] = 40
            else:
                img[..., 2] = (y * 5 + i * 3) % 256
                img[..., 1] = 220
            frame = av.VideoFrame.from_ndarray(img, format="rgb24").reformat(format="yuv420p")
            frame.pts = i
            frame.time_base = Fraction(1, 25)
            out.mux(v.encode(frame))
        out.mux(v.encode())
    return path


@pytest.fixture(scope="module")
def media(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("farm_media")
    make_clip(folder, ClipSpec("a", width=W, height=H, frames=30, audio=((48000, "aac"),)))
    make_clip(folder, ClipSpec("b", width=W, height=H, frames=30, fps=Fraction(30000, 1001)))
    _shot_clip(folder)
    shutil.copy(DATA / "chelsea.jpg", folder / "s1.jpg")
    shutil.copy(DATA / "coffee.jpg", folder / "s2.jpg")
    # Keyframes by time and by shot; the cross-fade (0.3-0.9 s = frames 7-22)
    # spans the chunk boundaries at 10 and 20.
    (folder / "t.toml").write_text(
        '[[keyframe]]\nat = 0\nstyle = "s1.jpg"\n\n'
        '[[keyframe]]\nat = 0.6\nstyle = "s2.jpg"\ntransition = 0.6\n\n'
        '[[keyframe]]\nshot = "2 + 0.4s"\nstyle = "s1.jpg"\nalpha = 0.5\ncurve = "hold"\n'
    )
    return folder


def _job(folder: Path, text: str, name: str = "job.toml") -> Path:
    path = folder / name
    path.write_text('[defaults]\nsize = 64\ndevice = "cpu"\nbatch = 2\n' + text)
    return path


def _run(args: list[str]):
    result = CliRunner().invoke(main, args, catch_exceptions=False)
    return result


def _dts_rise(path: Path) -> bool:
    with av.open(str(path)) as c:
        dts = [p.dts for p in c.demux(c.streams.video[0]) if p.size]
    return all(a < b for a, b in zip(dts, dts[1:]))


# --------------------------------------------------------------------------- #
# Result identity: plan/render/assemble == one run
# --------------------------------------------------------------------------- #


def test_farm_render_equals_a_single_run(random_weights, media: Path, tmp_path: Path) -> None:
    """Lossless (crf 0) so decoded frames compare exactly; chunks of 10 frames, batch 2."""
    from vidstyle.render import stylize_video
    from vidstyle.settings import EncodeSettings, ModelSettings, StyleSettings
    from vidstyle.shots import shots_for
    from vidstyle.timeline import load_timeline

    job = _job(tmp_path, f"""crf = 0
[[render]]
name = "styled"
input = "{media / 'a.mp4'}"
output = "farm_a.mp4"
style = "{media / 's1.jpg'}"

[[render]]
name = "timed"
input = "{media / 'shots.mp4'}"
output = "farm_t.mp4"
timeline = "{media / 't.toml'}"
""")
    plan_dir = tmp_path / "plan"
    assert _run(["farm", "plan", str(job), "--plan", str(plan_dir), "--chunk-frames", "10"]).exit_code == 0
    plan = load_plan(plan_dir)
    data = json.loads((plan_dir / "plan.json").read_text())
    assert [[(c["start"], c["stop"]) for c in r["chunks"]] for r in data["renders"]] == [[(0, 10), (10, 20), (20, 30)]] * 2
    # The temporal stage (on by default) starts afresh at every cut: the shot list is in the plan (a.mp4's
    # blue channel wraps from 240 to 4 at frame 13: a cut).
    assert data["renders"][0]["shots"]["cuts"] == [13]
    assert data["renders"][1]["shots"]["cuts"] == [15]
    # Chunks warm up from the frames before them (64 by default, here back to the video's start), or from the
    # batch (2) that holds the last cut inside that window (13 in the batch from 12, 15 in the one from 14; the
    # timeline's cut at 25 is after chunk 20's start).
    assert [r["warmup"] for r in data["renders"]] == [DEFAULT_WARMUP] * 2 == [64, 64]
    assert [[c["warmup_from"] for c in r["chunks"]] for r in data["renders"]] == [[0, 0, 12], [0, 0, 14]]

    # Chunks as a farm would run them: by index, and by frame tokens.
    assert _run(["farm", "render", str(plan_dir), "--chunk", "0", "--chunk", "1", "--quiet"]).exit_code == 0
    assert _run(["farm", "render", str(plan_dir), "--render", "styled", "--frames", "20-29", "--quiet"]).exit_code == 0
    for k in (3, 4):
        assert _run(["farm", "render", str(plan_dir), "--chunk", str(k), "--quiet"]).exit_code == 0
    shown = _run(["farm", "render", str(plan_dir), "--chunk", "5"])  # a chunk shows its progress
    assert shown.exit_code == 0 and "10/10" in shown.stderr and "chunk 5 (r01-timed frames 20-29)" in shown.stderr
    again = _run(["farm", "render", str(plan_dir), "--chunk", "0"])
    assert "already done" in again.stderr
    assert _run(["farm", "assemble", str(plan_dir)]).exit_code == 0

    single = tmp_path / "single_a.mp4"
    res = _run(["run", str(media / "a.mp4"), "--style", str(media / "s1.jpg"), "--size", "64", "--device", "cpu",
                "--batch", "2", "--crf", "0", "-o", str(single), "--quiet"])
    assert res.exit_code == 0, res.output
    farm_a = tmp_path / "farm_a.mp4"
    assert np.array_equal(frames_rgb(farm_a), frames_rgb(single))
    assert frame_times(farm_a) == frame_times(single)
    assert audio_packets(farm_a) == audio_packets(single) and len(audio_packets(farm_a)[0]) > 10

    # The timeline: a cross-fade spanning two chunk joins and a keyframe placed by shot.
    single_t = tmp_path / "single_t.mp4"
    stylize_video(media / "shots.mp4", single_t, StyleSettings(timeline=load_timeline(media / "t.toml")),
                  shots=shots_for(media / "shots.mp4"), model=ModelSettings(64, "cpu", 2), encode=EncodeSettings(crf=0))
    farm_t = tmp_path / "farm_t.mp4"
    a, b = frames_rgb(farm_t), frames_rgb(single_t)
    assert np.array_equal(a, b)
    assert frame_times(farm_t) == frame_times(single_t)
    # The cross-fade really spans the joins at frames 10 and 20 (0.4 s, 0.8 s), and
    # the shot keyframe lands after the cut: otherwise the test would prove little.
    resolved = load_timeline(media / "t.toml").resolve(25, 30, shots_for(media / "shots.mp4"))
    fade, held = resolved.keyframes[1], resolved.keyframes[2]
    assert fade.change_start < 0.4 < 0.8 < fade.change_end and held.frame == 25

    status = _run(["farm", "status", str(plan_dir), "--json"])
    rows = json.loads(status.stdout)
    assert [(r["done"], r["pending"], r["failed"], r["assembled"]) for r in rows] == [(3, 0, 0, True)] * 2


def test_lossy_chunks_join_by_stream_copy_with_rising_dts(random_weights, media: Path, tmp_path: Path) -> None:
    """x264 defaults (B-frames): joins keep decode timestamps rising; pixels differ only by encoding."""
    job = _job(tmp_path, f'[[render]]\ninput = "{media / "b.mp4"}"\noutput = "out.mp4"\nstyle = "{media / "s2.jpg"}"\n')
    res = _run(["farm", "run", str(job), "--plan", str(tmp_path / "plan"), "--chunk-frames", "10"])
    assert res.exit_code == 0, res.stderr
    assert "3 chunks rendered, 0 already done" in res.stderr and "wrote" in res.stderr and "(30 frames)" in res.stderr
    assert "30/30" in res.stderr  # the progress bar of the frames
    out = tmp_path / "out.mp4"
    assert _dts_rise(out)
    with av.open(str(out)) as c:
        assert sum(1 for p in c.demux(c.streams.video[0]) if p.size and p.is_keyframe) >= 3  # one per chunk
    single = tmp_path / "single.mp4"
    _run(["run", str(media / "b.mp4"), "--style", str(media / "s2.jpg"), "--size", "64", "--device", "cpu",
          "--batch", "2", "-o", str(single), "--quiet"])
    a, b = frames_rgb(out).astype(float), frames_rgb(single).astype(float)
    psnr = 10 * np.log10(255**2 / np.mean((a - b) ** 2))
    assert psnr > 35
    assert frame_times(out) == frame_times(single)


# --------------------------------------------------------------------------- #
# Resume: killed chunks, failures, re-runs
# --------------------------------------------------------------------------- #


def test_killed_chunk_is_redone_and_a_rerun_does_only_what_is_missing(
    random_weights, media: Path, tmp_path: Path
) -> None:
    job = _job(tmp_path, f'[[render]]\ninput = "{media / "a.mp4"}"\noutput = "out.mp4"\nstyle = "{media / "s1.jpg"}"\n')
    plan = make_plan(job, tmp_path / "plan", chunk_frames=10)
    render_chunk(plan, 0)
    first_marker = (tmp_path / "plan" / plan.chunks[0].file).with_name("chunk-0000.done.json").read_text()

    # A worker killed while writing chunk 1: its hidden temporary file, no marker.
    c1 = plan.path(plan.chunks[1])
    partial = c1.with_name(f".{c1.stem}.partial-dead{c1.suffix}")
    partial.write_bytes(b"\x00" * 1000)
    # And chunk 2 renamed into place but killed before its marker: a truncated file.
    c2 = plan.path(plan.chunks[2])
    c2.write_bytes(b"not a video")
    assert [chunk_state(plan, c) for c in plan.chunks] == ["done", "pending", "pending"]
    with pytest.raises(RenderError, match="chunk 1 .* is missing"):
        assemble(plan)

    # A failure mid-write leaves no chunk and a failed marker.
    with pytest.raises(RenderError, match=r"1 chunk\(s\) failed") as info:
        run_job(job, tmp_path / "plan", chunk_frames=10, render=FaultyRender({1: "raise"}))
    report = info.value.report
    assert [r.index for r in report.rendered] == [2] and report.skipped == 1
    assert not partial.exists() and not c1.exists()
    assert not list(c1.parent.glob(".*partial*"))
    assert plan_status(plan)[0]["chunk_states"] == {0: "done", 1: "failed", 2: "done"}
    status = _run(["farm", "status", str(tmp_path / "plan")])
    assert "chunk 1 failed" in status.stderr and "injected fault" in status.stderr

    # The next run renders chunk 1 only, then assembles.
    report = run_job(job, tmp_path / "plan", chunk_frames=10)
    assert [r.index for r in report.rendered] == [1] and report.skipped == 2
    assert first_marker == (tmp_path / "plan" / plan.chunks[0].file).with_name("chunk-0000.done.json").read_text()
    assert len(frames_rgb(tmp_path / "out.mp4")) == 30
    # And once more: nothing to do, the output is recognised as this plan's.
    report = run_job(job, tmp_path / "plan", chunk_frames=10)
    assert report.rendered == [] and report.assembled[0].status == "skipped"


# --------------------------------------------------------------------------- #
# Tampered plan folders
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def rendered_plan(random_weights, media: Path, tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("rendered")
    job = _job(folder, f'[[render]]\ninput = "{media / "a.mp4"}"\noutput = "out.mp4"\nstyle = "{media / "s1.jpg"}"\n'
                       'preset = "ultrafast"\n')
    plan = make_plan(job, folder / "plan", chunk_frames=10)
    for c in plan.chunks:
        render_chunk(plan, c.index)
    return folder / "plan"


def _copy(plan_dir: Path, tmp_path: Path) -> Path:
    dest = tmp_path / "plan"
    shutil.copytree(plan_dir, dest)
    return dest


def test_assemble_detects_a_missing_chunk(rendered_plan: Path, tmp_path: Path) -> None:
    folder = _copy(rendered_plan, tmp_path)
    (folder / load_plan(folder).chunks[1].file).unlink()
    res = _run(["farm", "assemble", str(folder)])
    assert res.exit_code == 5
    assert "chunk 1 (r00-a frames 10-19) is missing" in res.stderr and "render chunk 1" in res.stderr
    assert not (tmp_path / "out.mp4").exists() and not list(tmp_path.glob(".out*"))


def test_assemble_detects_a_chunk_of_the_wrong_length(rendered_plan: Path, tmp_path: Path) -> None:
    folder = _copy(rendered_plan, tmp_path)
    plan = load_plan(folder)
    # Chunk 2 replaced by a 5-frame cut of the input, marker rewritten to match the file: only counting finds it.
    c2 = plan.path(plan.chunks[2])
    with av.open(str(c2)) as src, av.open(str(c2.with_name("short.mp4")), "w") as dst:
        s = dst.add_stream_from_template(src.streams.video[0])
        for n, p in enumerate(src.demux(src.streams.video[0])):
            if p.size and n < 5:
                p.stream = s
                dst.mux(p)
    shutil.move(c2.with_name("short.mp4"), c2)
    marker = c2.with_name("chunk-0002.done.json")
    m = json.loads(marker.read_text())
    from vidstyle.digest import file_sha256

    m.update(bytes=c2.stat().st_size, sha256=file_sha256(c2))
    marker.write_text(json.dumps(m))
    with pytest.raises(RenderError, match="chunk 2 .*has 5 frames, expected 10"):
        assemble(plan)
    # A chunk file changed behind its marker is caught by its checksum.
    folder2 = _copy(rendered_plan, tmp_path / "x")
    plan2 = load_plan(folder2)
    p0 = plan2.path(plan2.chunks[0])
    p0.write_bytes(p0.read_bytes()[:-10] + b"0123456789")
    with pytest.raises(RenderError, match="chunk 0 .*does not match its marker"):
        assemble(plan2)


def test_plan_json_that_no_longer_covers_the_input_is_refused(rendered_plan: Path, tmp_path: Path) -> None:
    folder = _copy(rendered_plan, tmp_path)
    data = json.loads((folder / "plan.json").read_text())
    del data["renders"][0]["chunks"][1]
    (folder / "plan.json").write_text(json.dumps(data))
    with pytest.raises(RenderError, match="do not cover frames 0-29"):
        assemble(load_plan(folder))


# --------------------------------------------------------------------------- #
# Jobs and options (no rendering)
# --------------------------------------------------------------------------- #


@pytest.mark.parametrize(
    "text, message",
    [
        ('[[render]]\ninput = "a.mp4"\nstyle = "s1.jpg"\ncolour = 1\n', "unknown key 'colour'"),
        ('[[render]]\ninput = "a.mp4"\n', "[[render]] #1: give at least one style, or a timeline"),
        ('[[render]]\ninput = "a.mp4"\nstyle = "s1.jpg"\ntimeline = "t.toml"\n', "a timeline sets styles"),
        ('[[render]]\ninput = "a.mp4"\nstyle = "s1.jpg"\n[[render]]\ninput = "a.mp4"\nstyle = "s2.jpg"\n', "used twice"),
        ('[[render]]\ninput = "a.mp4"\nstyle = "s1.jpg"\ncrf = 99\n', "crf"),
        ('[[render]]\ninput = "a.mp4"\nstyle = "s1.jpg"\nweights = [0.5, 0.6]\n', "style weights"),
        ('chunk_frames = 0\n[[render]]\ninput = "a.mp4"\nstyle = "s1.jpg"\n', "chunk_frames"),
    ],
)
def test_job_errors_name_the_render_and_the_problem(media: Path, text: str, message: str) -> None:
    job = media / "bad.toml"
    job.write_text(text)
    res = _run(["farm", "plan", str(job), "--plan", str(media / "bad.plan")])
    assert res.exit_code == 2 and message in res.stderr


def test_chunks_align_to_the_batch_and_frame_tokens_must_match(media: Path, tmp_path: Path) -> None:
    job = tmp_path / "j.toml"
    job.write_text(f'[[render]]\ninput = "{media / "a.mp4"}"\nstyle = "{media / "s1.jpg"}"\noutput = "o.mp4"\n'
                   'device = "cpu"\n')
    # No batch given: the plan fixes the CPU's (2), and 10 is a multiple of it (it used to become 16).
    plan = make_plan(job, chunk_frames=10)
    assert plan.renders[0].spec.model.batch == 2 and plan.notes == []
    assert [(c.start, c.stop) for c in plan.chunks] == [(0, 10), (10, 20), (20, 30)]
    assert plan.folder == (tmp_path / "j.plan").resolve()
    assert [c.index for c in plan.chunks_in(None, 10, 29)] == [1, 2]
    with pytest.raises(SettingsError, match="do not match the plan's chunks"):
        plan.chunks_in(None, 0, 14)
    # A size that is not a multiple of the batch is rounded up, and the plan says so.
    job.write_text(job.read_text() + "batch = 4\n")
    res = _run(["farm", "plan", str(job), "--chunk-frames", "10"])
    assert res.exit_code == 0, res.stderr
    plan = load_plan(tmp_path / "j.plan")
    assert [(c.start, c.stop) for c in plan.chunks] == [(0, 12), (12, 24), (24, 30)]
    assert "chunks of 12 frames instead of 10, a multiple of its batch (4 frames)" in " ".join(res.stderr.split())


def test_ray_executor_without_ray_says_how_to_install_it(monkeypatch) -> None:
    from vidstyle.farm import executors

    monkeypatch.setitem(sys.modules, "ray", None)
    with pytest.raises(SettingsError, match=r"pip install 'vidstyle\[farm\]'"):
        executors._import_ray()


# --------------------------------------------------------------------------- #
# Ray (a local Ray with 2 CPUs, started here)
# --------------------------------------------------------------------------- #


@pytest.fixture(scope="module")
def local_ray():
    ray = pytest.importorskip("ray", reason="the ray executor needs pip install 'vidstyle[farm]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
    yield ray
    ray.shutdown()


def test_ray_runs_a_two_render_job_and_retries_failed_tasks(
    random_weights, local_ray, media: Path, tmp_path: Path
) -> None:
    job = _job(tmp_path, f"""preset = "ultrafast"
[[render]]
input = "{media / 'a.mp4'}"
output = "a_out.mp4"
style = "{media / 's1.jpg'}"

[[render]]
input = "{media / 'b.mp4'}"
output = "b_out.mp4"
style = "{media / 's2.jpg'}"
""")
    # Chunk 0's worker dies mid-write (os._exit), chunk 3 raises: both once. The workers get
    # the faulty renderer by value: this test module is not importable where they run.
    local_ray.cloudpickle.register_pickle_by_value(sys.modules[__name__])
    report = run_job(job, tmp_path / "plan", chunk_frames=10, executor="ray", max_retries=2,
                     render=FaultyRender({0: "exit", 3: "raise"}))
    assert len(report.rendered) == 6 and report.failed == []
    assert (tmp_path / "plan" / ".fault-0").exists() and (tmp_path / "plan" / ".fault-3").exists()
    plan = load_plan(tmp_path / "plan")
    assert all(chunk_state(plan, c, verify=True) == "done" for c in plan.chunks)
    assert not list((tmp_path / "plan").rglob(".*partial*"))
    for name, audio in (("a_out.mp4", 1), ("b_out.mp4", 0)):
        out = tmp_path / name
        assert len(frames_rgb(out)) == 30 and len(audio_packets(out)) == audio


@pytest.mark.parametrize(("asked", "steady", "planned"), [(4, "", 4), (0, "", 0), (20, "", 20), (4, "steady = false\n", 0)])
def test_the_warmup_is_what_the_job_asks_and_none_without_steady_video(media: Path, tmp_path: Path, asked: int,
                                                                       steady: str, planned: int) -> None:
    job = _job(tmp_path, f"""warmup = {asked}
{steady}[[render]]
name = "a"
input = "{media / 'a.mp4'}"
output = "farm_a.mp4"
style = "{media / 's1.jpg'}"
""")
    assert _run(["farm", "plan", str(job), "--plan", str(tmp_path / "plan"), "--chunk-frames", "10"]).exit_code == 0
    data = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert data["renders"][0]["warmup"] == planned


@pytest.mark.parametrize(("carry", "starts"), [("", [0, 6, 16]), ("steady_carry = true\n", [0, 0, 12])])
def test_with_the_carry_a_chunk_warms_up_from_the_memorys_last_restart(media: Path, tmp_path: Path, carry: str,
                                                                       starts: list[int]) -> None:
    # A copy never forgets: with the carry the memory starts again only every phase_period (240) frames, so a
    # chunk renders from the last of those or of the shot starts (a.mp4 cuts at frame 12) to match a single
    # render exactly.
    job = _job(tmp_path, f"""warmup = 4
{carry}[[render]]
name = "a"
input = "{media / 'a.mp4'}"
output = "farm_a.mp4"
style = "{media / 's1.jpg'}"
batch = 2
""")
    assert _run(["farm", "plan", str(job), "--plan", str(tmp_path / "plan"), "--chunk-frames", "10"]).exit_code == 0
    data = json.loads((tmp_path / "plan" / "plan.json").read_text())
    assert [c["warmup_from"] for c in data["renders"][0]["chunks"]] == starts
