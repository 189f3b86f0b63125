"""Draft quality against plain upsampling from the same working size, and against the full model.

    python benchmarks/bench_draft.py --repeats 5 --results benchmarks/RESULTS.md --note "quiet: ..."

On frames of the sample clip stretched to ``--width`` x ``--height`` (640x480,
bilinear; a stretched clip holds no detail beyond its 384x288, so the full
frame guides with less than a real 640x480 clip would), with one style, each
mode is :meth:`~vidstyle.stylize.Stylizer.stylize` on batches of one frame,
the CPU backend of ``--backend``:

- ``full 512``: the default (network at 512x384, bilinear back to 640x480);
- ``draft 192, guided``: ``--quality draft`` (3/8 of ``--size 512``: network at 192x144, :func:`vidstyle.draft.guided_upsample`);
- ``draft 192, plain``: the same network output, bilinear upsampling;
- ``draft 256, guided``: the network at 256x192 (what draft was before: half of ``--size 512``);
- ``full 640``: the network at the frame's own size (what upsampling tries to give back).

For each: ms per frame (median of ``--repeats`` interleaved rounds over the
frames), the structure score of the output against the frame (lower keeps
more of the scene), PSNR against ``full 640``, and the edge energy (mean
Sobel gradient magnitude of the output's lightness) as a fraction of ``full 640``'s.
``--results`` writes the table into its section of that file (``benchmarks/report.py``).
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vidstyle.draft import lightness  # noqa: E402
from vidstyle.imageio import resize  # noqa: E402
from vidstyle.metrics import psnr, structure_score  # noqa: E402
from vidstyle.stylize import Stylizer  # noqa: E402
from vidstyle.settings import Span  # noqa: E402
from vidstyle.video import FrameReader  # noqa: E402

DEFAULT_CLIP = ROOT / "examples" / "media" / "vtest_audio.mp4"
DEFAULT_STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"


def edge_energy(rgb: torch.Tensor) -> float:
    from kornia.filters import sobel

    return float(sobel(lightness(rgb)).mean())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    ap.add_argument("--width", type=int, default=640)
    ap.add_argument("--height", type=int, default=480)
    ap.add_argument("--frames", default="50:56")
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--backend", default="auto")
    ap.add_argument("--threads", type=int, default=0)
    report.add_options(ap)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    with FrameReader(args.clip, Span(frames=args.frames)) as reader:
        clip = torch.cat([b.rgb for b in reader.iter_batches(8)])
    frames = resize(clip, (args.height, args.width)).clamp(0, 1)
    full = max(args.width, args.height)
    modes = {
        "full 512": Stylizer(device="cpu", size=512, backend=args.backend),
        "draft 192, guided": Stylizer(device="cpu", size=512, quality="draft", backend=args.backend),
        "draft 192, plain": Stylizer(device="cpu", size=192, backend=args.backend),
        "draft 256, guided": Stylizer(device="cpu", size=683, quality="draft", backend=args.backend),
        f"full {full}": Stylizer(device="cpu", size=full, backend=args.backend),
    }
    ref_name = f"full {full}"
    look = modes["full 512"].look([args.style])
    outs = {name: torch.cat([st.stylize(f[None], look) for f in frames]) for name, st in modes.items()}
    times: dict[str, list[float]] = {name: [] for name in modes}
    for _ in range(args.repeats):
        for name, st in modes.items():
            t = time.perf_counter()
            for f in frames:
                st.stylize(f[None], look)
            times[name].append((time.perf_counter() - t) / len(frames))
    encoder = modes["full 512"].encoder
    ref_edges = edge_energy(outs[ref_name])
    backend = modes["full 512"].backend.name
    table = [f"| mode | ms per frame | structure score | PSNR vs {ref_name} (dB) | edge energy vs {ref_name} |",
             "| --- | ---: | ---: | ---: | ---: |"]
    rows = {}
    for name, out in outs.items():
        ms = 1000 * statistics.median(times[name])
        s = float(structure_score(encoder, out, frames))
        db = psnr(out, outs[ref_name])
        edges = edge_energy(out) / ref_edges
        rows[name] = {"ms": round(ms, 1), "structure": round(s, 4), "psnr_vs_full_db": round(db, 2), "edges": round(edges, 3)}
        table.append(f"| {name} | {ms:.0f} | {s:.4f} | {'—' if name == ref_name else f'{db:.1f}'} | {edges:.2f} |")
    report.publish(args, f"bench_draft/cpu-{args.width}x{args.height}", "\n".join([
        f"## Draft quality at {args.width}x{args.height}: guided against plain upsampling",
        "",
        f"Backend {backend}, {torch.get_num_threads()} threads; {len(frames)} frames {args.width}x{args.height} "
        f"(frames {args.frames} of {args.clip.name}, stretched), style {args.style.name}; Stylizer.stylize one frame "
        f"at a time, {args.repeats} interleaved rounds, medians (the model stage only: no decode or encode). "
        "Structure score: lower keeps more of the scene; edge energy: mean Sobel magnitude of the lightness.",
        "",
        *table,
    ]))
    print(json.dumps({"backend": backend, "threads": torch.get_num_threads(), "size": [args.width, args.height],
                      "frames": args.frames, "style": args.style.name, "modes": rows}))


if __name__ == "__main__":
    main()
