"""What steady video costs in a render: `vidstyle run` with the temporal stage on (the default) and off.

    python benchmarks/bench_steady.py --results benchmarks/RESULTS-flicker.md --note "..."
    python benchmarks/bench_steady.py --size 64 --repeats 1      # smoke test

The same clip rendered by :func:`vidstyle.stylize_video` with ``steady`` off
and on, alternately, ``--repeats`` times each, in one process with the model
loaded once (a first render, not counted, warms it up). The temporal stage runs
inside the model stage (its flow, warps and blends sit around the encoder and
decoder: :class:`vidstyle.stylize.BatchHooks`). Time is the model thread's
*CPU* time (``time.thread_time``, torch on ``--threads`` threads, 1 by
default so that the thread's time is all of the work): on a machine shared with
other jobs, wall-clock time measures the neighbours as much as the code. Per
render: the model stage (:func:`vidstyle.render.stylize_batch`) and, inside
it, the temporal hooks; the stage's cost is hooks / (model stage - hooks), and
the whole difference on / off - 1 is given too (it also counts what the hooks
do to the caches the model works from, and more of the neighbours' noise). The
stage also needs the shot list: a decode-only pass over the whole video, once
per video (cached after), timed the same way and added, as the first render of
a video pays it. Medians of the runs; the processes listed in
``/tmp/vidstyle-training.pids`` are paused while timing (``report.Paused``).
"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
MEDIA = ROOT / "examples" / "media"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"


class CpuClock:
    """Thread CPU seconds spent in the model stage and in the temporal hooks (patched in for the run)."""

    def __init__(self) -> None:
        import vidstyle.render as render
        from vidstyle.temporal import TemporalHooks

        self.model = self.hooks = 0.0
        self._patched = [(render, "stylize_batch", render.stylize_batch)]
        self._patched += [(TemporalHooks, m, getattr(TemporalHooks, m)) for m in
                          ("begin", "content_stats", "features", "output")]

    def _timed(self, fn, field: str):
        def run(*a, **k):
            t0 = time.thread_time()
            try:
                return fn(*a, **k)
            finally:
                setattr(self, field, getattr(self, field) + time.thread_time() - t0)
        return run

    def __enter__(self) -> CpuClock:
        for owner, name, fn in self._patched:
            setattr(owner, name, self._timed(fn, "model" if name == "stylize_batch" else "hooks"))
        return self

    def __exit__(self, *exc) -> None:
        for owner, name, fn in self._patched:
            setattr(owner, name, fn)


def main() -> None:
    from vidstyle.settings import ModelSettings

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--clip", default="pan_dune.mp4", help="a file in examples/media")
    ap.add_argument("--size", type=int, default=ModelSettings.size, help="the working size, as `vidstyle run --size` (default: its default)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1, help="torch threads")
    ap.add_argument("--carry", action="store_true",
                    help="also steady video with the camera carry (--steady-carry), alternating with the other two")
    report.add_options(ap)
    args = ap.parse_args()

    import torch

    from vidstyle.render import stylize_video
    from vidstyle.settings import EncodeSettings, ModelSettings, SteadySettings, StyleSettings
    from vidstyle.shots import detect_shots
    from vidstyle.stylize import Stylizer

    torch.set_num_threads(args.threads)
    clip = MEDIA / args.clip
    stylizer = Stylizer(device="cpu", size=args.size)
    model = ModelSettings(args.size, "cpu")
    encode = EncodeSettings(preset="ultrafast")
    style = StyleSettings([STYLE])
    settings = {"off": SteadySettings(enabled=False), "on": SteadySettings()}
    if args.carry:
        settings["on, camera carry"] = SteadySettings(carry=True)
    runs: dict[str, list[tuple[float, float]]] = {name: [] for name in settings}
    shots_s: list[float] = []
    frames = 0
    with tempfile.TemporaryDirectory(prefix="bench_steady_") as tmp, report.Paused() as paused:
        tmp = Path(tmp)
        shots = detect_shots(clip, device="cpu")
        stylize_video(clip, tmp / "warm.mp4", style, model=model, encode=encode, stylizer=stylizer, shots=shots)
        for _ in range(args.repeats):
            t0 = time.process_time()
            detect_shots(clip, device="cpu")
            shots_s.append(time.process_time() - t0)
            for name, steady in settings.items():
                with CpuClock() as clock:
                    res = stylize_video(clip, tmp / f"{name.replace(', ', '-').replace(' ', '_')}.mp4", style, model=model, encode=encode,
                                        stylizer=stylizer, steady=steady, shots=shots, overwrite=True)
                frames = res.frames
                runs[name].append((clock.model, clock.hooks))
                print(name, f"model stage {clock.model:.2f} s CPU, hooks {clock.hooks:.2f} s", file=sys.stderr)
    med = statistics.median
    off = med(m for m, _ in runs["off"])
    det = med(shots_s)
    lines = [
        f"## Cost of steady video in a render (--size {args.size}, CPU, {args.threads} thread(s))",
        "",
        f"{args.clip}, {frames} frames, style {STYLE.name}, `--size {args.size}`, batch from the device default; "
        f"CPU seconds of the model thread for the whole clip, median of {args.repeats} alternating runs each "
        f"(off: {', '.join(f'{m:.2f}' for m, _ in runs['off'])}; "
        + "; ".join(f"{name}: {', '.join(f'{m:.2f} (hooks {h:.2f})' for m, h in runs[name])}"
                    for name in runs if name != "off")
        + f"); the shot-list pass is process CPU seconds, median of {args.repeats} "
        f"({', '.join(f'{t:.2f}' for t in shots_s)}). Training processes paused while timing: "
        f"{paused.pids or 'none listed'}.",
        "",
        "| steady | model stage, steady off | model stage, steady on | of which the temporal hooks | hooks / rest of the "
        "stage | shot-list pass (once per video) | feature (hooks + pass) / model stage off | model stage on / off - 1 |",
        "|---|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for name in (n for n in runs if n != "off"):
        on = med(m for m, _ in runs[name])
        hooks = med(h for _, h in runs[name])
        share = med(h / (m - h) for m, h in runs[name])
        lines.append(f"| {name} | {off:.2f} s ({1000 * off / frames:.0f} ms/frame) | {on:.2f} s | {hooks:.2f} s "
                     f"({1000 * hooks / frames:.0f} ms/frame) | {share:.1%} | {det:.2f} s ({det / off:.1%}) "
                     f"| {(hooks + det) / off:.1%} | {on / off - 1:.1%} |")
    report.publish(args, f"bench_steady/cpu-{args.size}{'-carry' if args.carry else ''}", "\n".join(lines))


if __name__ == "__main__":
    main()
