"""The whole run against the model alone, for several x264 settings side by side in one process.

    python benchmarks/bench_presets.py --resolution 1080p --rounds 10 --results benchmarks/RESULTS.md --note "..."
    python benchmarks/bench_presets.py --frames 4 --rounds 1 --resolution 480p      # smoke test

bench_video times one encoder setting per run; on a shared machine two runs
minutes apart differ by more than two presets do. Here every round times the
model alone (the frames decoded beforehand, held in memory) and then a whole
`vidstyle run` (:func:`vidstyle.render.stylize_video`, steady video off unless ``--steady``) with
each encoder setting, the order rotating from round to round; the figure is
the median over rounds of model / whole, each whole run against its own
round's model. File sizes are those of the whole runs' outputs. The clip is
`examples/media/vtest_audio.mp4` stretched to ``--resolution`` (x264 crf 18,
made once, as bench_video does).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "benchmarks"))
from vidstyle.render import CPU_LARGE_SCALE, CPU_PRESET, CPU_X264_PARAMS  # noqa: E402

STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"
SAMPLE = ROOT / "examples" / "media" / "vtest_audio.mp4"

# name -> (preset, x264 params); None: what `vidstyle run` picks on the CPU for this frame and working size.
SETTINGS: dict[str, tuple[str, str] | None] = {
    "default": None,
    f"{CPU_PRESET} + {CPU_X264_PARAMS} (the CPU default below {CPU_LARGE_SCALE:g}x the working pixels)":
        (CPU_PRESET, CPU_X264_PARAMS),
    "superfast": ("superfast", ""),
    "ultrafast + CABAC + deblocking": ("ultrafast", "cabac=1:deblock=1"),
    "ultrafast": ("ultrafast", ""),
}


def main() -> None:
    from vidstyle.settings import ModelSettings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", default="1080p", help="480p, 720p, 1080p or 4k (the sample clip stretched)")
    ap.add_argument("--size", type=int, default=ModelSettings.size, help="the working size, as `vidstyle run --size`")
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--rounds", type=int, default=8)
    ap.add_argument("--settings", nargs="*", default=list(SETTINGS), help="names from SETTINGS")
    ap.add_argument("--quality", default="full", help="as `vidstyle run --quality`")
    ap.add_argument("--steady", action="store_true", help="the whole runs with steady video on (the model alone never)")
    ap.add_argument("--case", default="", help="a name for this run's section: bench_presets/cpu-<resolution>-<case>")
    report.add_options(ap)
    args = ap.parse_args()

    from bench_video import RESOLUTIONS, upscale_clip

    from vidstyle.render import codec_scaling, default_batch, default_encode, frame_scale, stylize_video
    from vidstyle.settings import EncodeSettings, Span, SteadySettings, StyleSettings
    from vidstyle.stylize import Stylizer, save_style
    from vidstyle.video import FrameReader, probe

    model = ModelSettings(args.size, "cpu", quality=args.quality)
    st = Stylizer.from_settings(model)
    batch = default_batch("cpu", st.size)
    span = Span(frames=(0, args.frames))
    chosen = {name: SETTINGS[name] for name in args.settings}
    with tempfile.TemporaryDirectory(prefix="bench_presets_") as tmp, report.Paused() as paused:
        tmp = Path(tmp)
        clip = tmp / f"clip_{args.resolution}.mp4"
        upscale_clip(SAMPLE, clip, *RESOLUTIONS[args.resolution], stop=args.frames)
        info = probe(clip)
        style = tmp / "s.style"
        save_style(st.load_style(STYLE), style)
        look = st.look([style])
        out = tmp / "out.mp4"
        with FrameReader(clip, span, info=info, scale_to=codec_scaling(info, out, st.size, st.quality)) as reader:
            held = [b.rgb for b in reader.iter_batches(batch)]

        def alone() -> None:
            for rgb in held:
                st.stylize(rgb, look)

        def whole(setting: tuple[str, str] | None):
            enc = EncodeSettings("libx264") if setting is None else EncodeSettings(
                "libx264", preset=setting[0], x264_params=setting[1] or None)

            def run() -> None:
                stylize_video(clip, out, StyleSettings([style]), model=replace(model, batch=batch), encode=enc,
                              span=span, overwrite=True, stylizer=st, steady=SteadySettings(enabled=args.steady))
            return run

        runs = {"model alone": alone, **{name: whole(s) for name, s in chosen.items()}}
        for fn in runs.values():  # warm-up, not counted
            fn()
        times: dict[str, list[float]] = {name: [] for name in runs}
        sizes: dict[str, int] = {}
        names = list(runs)
        for r in range(args.rounds):
            for name in names[r % len(names):] + names[: r % len(names)]:
                t0 = time.perf_counter()
                runs[name]()
                times[name].append(time.perf_counter() - t0)
                if name != "model alone":
                    sizes[name] = out.stat().st_size
            print(f"round {r}: " + ", ".join(f"{k} {v[-1]:.2f} s" for k, v in times.items()), file=sys.stderr)

    picked = default_encode(EncodeSettings("libx264"), "cpu", frame_scale(info.height, info.width, st.size, st.quality))
    m = times["model alone"]
    lines = [
        f"## Whole run against the model, x264 settings paired ({args.resolution}, `--size {args.size}`, CPU)",
        "",
        f"`vtest_audio.mp4` stretched to {args.resolution}, frames 0-{args.frames - 1}, style starry_night.jpg, "
        f"quality {args.quality}, the network at {st.size} px, steady video {'on' if args.steady else 'off'} in the "
        f"whole runs, x264 crf 18; {args.rounds} rounds, each the model alone (frames decoded beforehand) and "
        f"a whole run per setting, the order rotating. The default is what `vidstyle run` picks on the CPU: "
        f"`{picked.preset}`{f' with `{picked.x264_params}`' if picked.x264_params else ''}. Training processes paused: {paused.pids or 'none listed'}.",
        "",
        "| x264 setting | whole run, median s | fps | model / whole, per round (median) | lowest, highest round | bytes "
        "| x default |",
        "|---|---:|---:|---:|---:|---:|---:|",
        f"| model alone | {statistics.median(m):.2f} | {args.frames / statistics.median(m):.2f} | 1.000 | | | |",
    ]
    for name in chosen:
        per = [a / b for a, b in zip(m, times[name])]
        lines.append(f"| {name} | {statistics.median(times[name]):.2f} | {args.frames / statistics.median(times[name]):.2f} | "
                     f"**{statistics.median(per):.3f}** | "
                     f"{min(per):.3f}, {max(per):.3f} | {sizes[name]:,} | "
                     f"{sizes[name] / sizes[next(iter(chosen))]:.2f} |")
    case = f"cpu-{args.resolution}" + ("-draft" if args.quality == "draft" else "") + ("-steady" if args.steady else "")
    case += f"-{args.case}" if args.case else ""
    report.publish(args, f"bench_presets/{case}", "\n".join(lines))


if __name__ == "__main__":
    main()
