"""Farm chunk joins with the temporal stage: how many warm-up frames a chunk needs to match a single render.

    python benchmarks/bench_joins.py --results benchmarks/RESULTS-flicker.md --note "..."
    python benchmarks/bench_joins.py --size 64 --starts 8 --warmups 0,4 --chunk-frames 8 --clips pan_dune.mp4  # smoke

A farm chunk cannot see the frames before it, but the temporal stage (on by
default) carries memory from frame to frame; a chunk renders ``warmup`` frames
before its first without writing them (:func:`vidstyle.farm.plan.warmup_from`).
Two measurements, each against a single render of the whole clip (default
settings, the shipped decoder, lossless 4:4:4 so the codec adds nothing):

- **Warm-up sweep.** For each clip and each join frame ``--starts`` (frames far
  enough from the start that the warm-up does not reach frame 0, where it is
  exact), the range starting there rendered with each ``--warmups`` value by
  :func:`vidstyle.stylize_video` (``span`` + ``warmup``, what a chunk does):
  the PSNR of its first frame (the join: later frames of the chunk have more
  history and are closer) against the single render's.
- **A real farm.** The clip rendered as a farm job in chunks of
  ``--chunk-frames`` on a local Ray cluster (``ray.init(num_cpus=2)``, as
  ``tests/test_farm.py`` starts one) with the plan's default warm-up, then
  assembled: the PSNR of every join frame, and the lowest over all frames.

PSNR is over the 8-bit RGB frames, peak 255; "exact" where the frames are identical.
"""
from __future__ import annotations

import argparse
import math
import sys
import tempfile
from pathlib import Path

import numpy as np

import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MEDIA = ROOT / "examples" / "media"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"
CLIPS = ("vtest_audio.mp4", "pan_dune.mp4")  # a fixed camera (60 frames), a moving one (40)
PINGPONG = "+back"  # a clip named "pan_dune.mp4+back": played forward, then backward (a longer moving camera)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = float(np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2))
    return math.inf if mse == 0 else 10 * math.log10(255.0**2 / mse)


def fmt(db: float) -> str:
    return "exact" if math.isinf(db) else f"{db:.1f}"


def frames_of(path: Path) -> np.ndarray:
    import av

    with av.open(str(path)) as c:
        return np.stack([f.to_ndarray(format="rgb24") for f in c.decode(video=0)])


def clip_path(name: str, folder: Path) -> Path:
    """The clip ``name`` in examples/media; with :data:`PINGPONG`, written to ``folder`` forward then backward."""
    if not name.endswith(PINGPONG):
        return MEDIA / name
    import av

    src = MEDIA / name[: -len(PINGPONG)]
    frames = frames_of(src)
    frames = np.concatenate([frames, frames[-2::-1]])
    with av.open(str(src)) as c:
        rate = c.streams.video[0].average_rate
    dest = folder / f"{src.stem}-pingpong.mp4"
    with av.open(str(dest), "w") as out:
        v = out.add_stream("libx264", rate=rate, options={"crf": "0", "preset": "ultrafast"})
        v.width, v.height, v.pix_fmt = frames.shape[2], frames.shape[1], "yuv444p"
        for img in frames:
            out.mux(v.encode(av.VideoFrame.from_ndarray(img, format="rgb24")))
        out.mux(v.encode())
    return dest


def main() -> None:
    from vidstyle.settings import ModelSettings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clips", default=",".join(CLIPS),
                    help=f"files in examples/media, comma-separated; NAME{PINGPONG}: forward then backward")
    ap.add_argument("--size", type=int, default=ModelSettings.size, help="the working size, as `vidstyle run --size` (default: its default)")
    ap.add_argument("--starts", default="24,36", help="join frames for the sweep (even: the CPU batch is 2)")
    ap.add_argument("--warmups", default="0,4,8,12,16,24")
    ap.add_argument("--chunk-frames", type=int, default=12, help="chunk size of the Ray farm run")
    ap.add_argument("--no-ray", action="store_true", help="leave out the farm run")
    ap.add_argument("--farm-warmup", type=int, default=None, help="the farm job's warmup (default: the plan's)")
    ap.add_argument("--carry", action="store_true",
                    help="steady video with the camera carry (--steady-carry): its memory starts again only every "
                         "phase_period frames, so the farm's chunks warm up from there")
    ap.add_argument("--case", default="short", help="the report's section: bench_joins/CASE")
    report.add_options(ap)
    args = ap.parse_args()

    from vidstyle.farm.executors import run_job
    from vidstyle.farm.plan import DEFAULT_WARMUP
    from vidstyle.render import stylize_video
    from vidstyle.settings import EncodeSettings, ModelSettings, Span, SteadySettings, StyleSettings
    from vidstyle.stylize import Stylizer

    encode = EncodeSettings(preset="ultrafast", crf=0, pix_fmt="yuv444p")
    model = ModelSettings(args.size, "cpu", 2)
    stylizer = Stylizer(device="cpu", size=args.size)
    style = StyleSettings([STYLE])
    steady = SteadySettings(carry=args.carry)
    starts = [int(s) for s in args.starts.split(",")]
    warmups = [int(w) for w in args.warmups.split(",")]
    sweep, farm = [], []
    with tempfile.TemporaryDirectory(prefix="bench_joins_") as tmp:
        tmp = Path(tmp)
        singles, paths = {}, {}
        for name in args.clips.split(","):
            clip = paths[name] = clip_path(name, tmp)
            res = stylize_video(clip, tmp / f"single-{clip.name}", style, model=model, encode=encode, stylizer=stylizer,
                                steady=steady, shots_cache=tmp / "shots")
            singles[name] = frames_of(res.output)
            n = len(singles[name])
            for start in (s for s in starts if s < n):
                row = []
                for w in warmups:
                    part = stylize_video(clip, tmp / f"part-{start}-{w}-{clip.name}", style, model=model, encode=encode,
                                         stylizer=stylizer, span=Span(frames=(start, start + 1)), warmup=w, steady=steady,
                                         shots_cache=tmp / "shots", overwrite=True)
                    row.append(psnr(frames_of(part.output)[0], singles[name][start]))
                sweep.append((name, start, row))
                print(name, start, [fmt(d) for d in row], file=sys.stderr)
        if not args.no_ray:
            import ray

            ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False, configure_logging=False)
            try:
                for name in args.clips.split(","):
                    folder = tmp / f"farm-{paths[name].stem}"
                    folder.mkdir()
                    job = folder / "job.toml"
                    job.write_text(
                        f'chunk_frames = {args.chunk_frames}\n[defaults]\nsize = {args.size}\ndevice = "cpu"\n'
                        f'batch = 2\ncrf = 0\npreset = "ultrafast"\npix_fmt = "yuv444p"\n'
                        + (f"warmup = {args.farm_warmup}\n" if args.farm_warmup is not None else "")
                        + ("steady_carry = true\n" if args.carry else "")
                        + f'[[render]]\nname = "r"\ninput = "{paths[name]}"\noutput = "out.mp4"\nstyle = "{STYLE}"\n'
                    )
                    rep = run_job(job, folder / "plan", executor="ray", shots_cache=tmp / "shots")
                    out = frames_of(Path(rep.assembled[0].output))
                    single = singles[name]
                    chunks = rep.plan.renders[0].chunks
                    joins = [(c.start, c.warmup_from, psnr(out[c.start], single[c.start])) for c in chunks[1:]]
                    worst = min(psnr(out[i], single[i]) for i in range(len(single)))
                    farm.append((name, len(out) == len(single), joins, worst))
                    print(name, joins, fmt(worst), file=sys.stderr)
            finally:
                ray.shutdown()

    lines = [
        f"## Farm joins with the temporal stage ({args.case})",
        "",
        f"Style {STYLE.name}, `--size {args.size}`, CPU, batch 2, "
        f"{'steadying with the camera carry (--steady-carry)' if args.carry else 'default steadying'}; every output lossless "
        "(x264 crf 0, yuv444p). PSNR (dB, 8-bit RGB) against a single render of the whole clip; target >= 40 dB.",
        "",
        "**Warm-up sweep**: the first frame of a range starting at the join, rendered with each warm-up "
        "(frames before it, not written).",
        "",
        "| clip | join frame | " + " | ".join(f"warm-up {w}" for w in warmups) + " |",
        "|---|---:|" + "---:|" * len(warmups),
    ]
    for name, start, row in sweep:
        lines.append(f"| {name} | {start} | " + " | ".join(fmt(d) for d in row) + " |")
    if farm:
        lines += [
            "",
            f"**Ray farm** (local Ray cluster, 2 CPUs; chunks of {args.chunk_frames} frames; warm-up "
            + (f"{args.farm_warmup} frames" if args.farm_warmup is not None else f"the plan's default, {DEFAULT_WARMUP} frames")
            + ("; with the carry, from the memory's last restart (frame 0 or a shot start here)" if args.carry else "")
            + "): each join as frame (warm-up from) PSNR.",
            "",
            "| clip | frames match | joins | lowest over all frames |",
            "|---|---|---|---:|",
        ]
        for name, same, joins, worst in farm:
            text = ", ".join(f"{s} (from {f}) {fmt(d)}" for s, f, d in joins)
            lines.append(f"| {name} | {'yes' if same else 'NO'} | {text} | {fmt(worst)} |")
    report.publish(args, f"bench_joins/{args.case}", "\n".join(lines))


if __name__ == "__main__":
    main()
