"""Farm runs: wall time of a 2-render job, local vs Ray, and the time spent outside rendering.

    python benchmarks/bench_farm.py --note "quiet" --results benchmarks/RESULTS.md   # 2 x 320 frames, 384x288, --size 512
    python benchmarks/bench_farm.py --frames 30 --width 64 --height 48 --size 64 --random-decoder   # smoke test

(issue 6: on a clip of at least 300 frames, the time outside rendering chunks
(planning, Ray start, assembling) should stay under 10% of the total.)

Two renders of one synthetic clip (a moving gradient with an AAC tone; same
clip, two styles from ``examples/styles``) are run as one job by
:func:`vidstyle.farm.executors.run_job`, once per executor, each in a fresh
plan folder, so nothing is reused between them. The baseline: the same two
renders run back to back with :func:`vidstyle.stylize_video` ("single", as two
``vidstyle run`` would: each loads the model), and each farm run's total as a
share of it.

For each: the wall time; planning (probe, packet index, checks); starting or
joining Ray; rendering the chunks; assembling (stream copy + audio + frame
count); and the overhead share = (total - rendering) / total. The local
executor renders in this process and loads the model once (its load counts as
rendering); a Ray worker loads it once per worker process. Ray gets every core
(``ray.init`` default) and each task one CPU, so on a 2-core machine Ray runs
two chunks at a time with one torch thread each.

``--random-decoder`` writes a weights folder with a random decoder (for a
machine where the trained decoder is not there yet): timings are the same,
pictures are not. ``--address`` joins a running Ray cluster instead of
starting a local one (then Ray start is the connection time).
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os
import shutil
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import av
import numpy as np

import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_clip(path: Path, frames: int, width: int, height: int, fps: int = 25) -> Path:
    """A moving gradient, x264 ultrafast, with a mono AAC tone of the same length."""
    with av.open(str(path), "w") as out:
        v = out.add_stream("libx264", rate=fps, options={"preset": "ultrafast", "g": str(2 * fps)})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        a = out.add_stream("aac", rate=48000, layout="mono")
        y, x = np.mgrid[0:height, 0:width]
        for i in range(frames):
            img = np.empty((height, width, 3), np.uint8)
            img[..., 0] = (x * 255 // max(width - 1, 1) + i * 5) % 256
            img[..., 1] = (y * 255 // max(height - 1, 1) + i * 3) % 256
            img[..., 2] = (i * 7) % 256
            f = av.VideoFrame.from_ndarray(img, format="rgb24")
            f.pts, f.time_base = i, Fraction(1, fps)
            out.mux(v.encode(f))
        out.mux(v.encode())
        total = frames * 48000 // fps
        tone = (0.2 * np.sin(2 * np.pi * 440 * np.arange(total) / 48000)).astype(np.float32)
        for start in range(0, total, 1024):
            af = av.AudioFrame.from_ndarray(tone[None, start:start + 1024], format="fltp", layout="mono")
            af.sample_rate, af.pts, af.time_base = 48000, start, Fraction(1, 48000)
            out.mux(a.encode(af))
        out.mux(a.encode())
    return path


def random_weights(folder: Path) -> Path:
    """Real encoder, random decoder (as the tests make it)."""
    import torch

    import vidstyle.model as model

    sys.path.insert(0, str(ROOT / "training"))
    import train

    folder.mkdir(parents=True, exist_ok=True)
    lines = []
    for name in (model.ENCODER_FILE, model.NORM_FILE):
        shutil.copy(ROOT / "weights" / name, folder / name)
        lines.append(f"{hashlib.sha256((folder / name).read_bytes()).hexdigest()}  {name}")
    (folder / model.SUMS_FILE).write_text("\n".join(lines) + "\n")
    os.environ["VIDSTYLE_WEIGHTS"] = str(folder)
    torch.manual_seed(0)
    train.write_decoder(model.Decoder(), folder / model.DECODER_FILE, {"encoder_id": model.encoder_id()})
    return folder


def styles() -> list[Path]:
    found = sorted(p for p in (ROOT / "examples" / "styles").iterdir() if p.suffix.lower() in (".jpg", ".jpeg", ".png"))
    if not found:
        found = [ROOT / "tests" / "data" / "chelsea.jpg", ROOT / "tests" / "data" / "coffee.jpg"]
    return (found * 2)[:2]


def write_job(folder: Path, clip: Path, args: argparse.Namespace) -> Path:
    s1, s2 = styles()
    job = folder / "job.toml"
    job.write_text(
        f'chunk_frames = {args.chunk_frames}\n[defaults]\nsize = {args.size}\ndevice = "{args.device}"\n'
        f'[[render]]\nname = "one"\ninput = "{clip}"\noutput = "one.mp4"\nstyle = "{s1}"\n'
        f'[[render]]\nname = "two"\ninput = "{clip}"\noutput = "two.mp4"\nstyle = "{s2}"\n'
    )
    return job


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=320, help="frames of the synthetic clip (>= 300 for the target)")
    ap.add_argument("--width", type=int, default=384)
    ap.add_argument("--height", type=int, default=288)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--device", default="auto")
    ap.add_argument("--chunk-frames", type=int, default=80)
    ap.add_argument("--executors", default="local,ray", help="comma-separated: local, ray")
    ap.add_argument("--address", help="a running Ray cluster (default: start a local one)")
    ap.add_argument("--random-decoder", action="store_true", help="use a random decoder (no trained weights needed)")
    report.add_options(ap)
    args = ap.parse_args()

    from vidstyle.farm.executors import run_job
    from vidstyle.render import stylize_video
    from vidstyle.settings import ModelSettings, StyleSettings

    rows = []
    with tempfile.TemporaryDirectory(prefix="bench_farm_") as tmp:
        tmp = Path(tmp)
        if args.random_decoder:
            random_weights(tmp / "weights")
        clip = make_clip(tmp / "clip.mp4", args.frames, args.width, args.height)
        t0 = time.perf_counter()
        for n, style in enumerate(styles()):
            stylize_video(clip, tmp / f"single{n}.mp4", StyleSettings([style]),
                          model=ModelSettings(args.size, args.device))
        total = time.perf_counter() - t0
        rows.append({"run": "single", "total_s": total, "plan_s": 0.0, "start_s": 0.0, "render_s": total,
                     "assemble_s": 0.0, "overhead_share": 0.0})
        for executor in [e.strip() for e in args.executors.split(",") if e.strip()]:
            folder = tmp / executor
            folder.mkdir()
            job = write_job(folder, clip, args)
            farm = run_job(job, folder / "plan", executor=executor, address=args.address if executor == "ray" else None)
            rows.append({
                "run": f"farm {executor}", "total_s": farm.total_seconds, "plan_s": farm.plan_seconds,
                "start_s": farm.start_seconds, "render_s": farm.render_seconds,
                "assemble_s": farm.assemble_seconds,
                "overhead_share": farm.overhead_seconds / farm.total_seconds,
                "chunks": len(farm.rendered),
            })
    print(f"2 renders x {args.frames} frames {args.width}x{args.height}, --size {args.size}, "
          f"chunks of {args.chunk_frames}, {os.cpu_count()} CPUs")
    print(f"{'run':<12}{'total s':>9}{'plan s':>8}{'ray start s':>12}{'render s':>10}{'assemble s':>11}{'outside %':>10}")
    for r in rows:
        print(f"{r['run']:<12}{r['total_s']:>9.2f}{r['plan_s']:>8.2f}{r['start_s']:>12.2f}{r['render_s']:>10.2f}"
              f"{r['assemble_s']:>11.2f}{100 * r['overhead_share']:>9.1f}%")
    print(json.dumps({"frames": args.frames, "size": args.size, "chunk_frames": args.chunk_frames, "rows": rows}))
    single = rows[0]["total_s"]
    table = ["| run | total s | vs single | plan s | Ray start s | render s | assemble s | outside rendering |",
             "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    for r in rows:
        outside = "" if r["run"] == "single" else f"{100 * r['overhead_share']:.1f}%"
        table.append(f"| {r['run']} | {r['total_s']:.2f} | {r['total_s'] / single:.2f} | {r['plan_s']:.2f} "
                     f"| {r['start_s']:.2f} | {r['render_s']:.2f} | {r['assemble_s']:.2f} | {outside} |")
    from vidstyle.stylize import resolve_device

    device = resolve_device(args.device).type
    report.publish(args, f"bench_farm/{device}", "\n".join([
        "## Farm",
        "",
        f"2 renders x {args.frames} frames of a {args.width}x{args.height} synthetic clip with audio, `--size "
        f"{args.size}`, on {device}, {os.cpu_count()} CPUs; farm runs in chunks of {args.chunk_frames} frames"
        + (" (random decoder)" if args.random_decoder else "") + ". \"single\" is the two renders with "
        "`vidstyle.stylize_video` one after the other (the baseline); \"vs single\" is each run's total over "
        "the baseline's; \"outside rendering\" is (total - render) / total.",
        "",
        *table,
    ]), device=device)


if __name__ == "__main__":
    main()
