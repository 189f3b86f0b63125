"""The model alone on each CPU path, side by side: ms per frame, x torch eager, PSNR and structure vs float32.

    python benchmarks/bench_backends.py --size 512 --repeats 5 --results benchmarks/RESULTS.md --note "quiet: ..."

In one process, on one frame of the sample clip resized to the working size
(``--size`` 512: 512x384), each path runs what :class:`~vidstyle.stylize.Stylizer`
runs per frame between its resizes: encoder -> AdaIN (torch) -> decoder,
batch 1. Every path is warmed up once, then timed in ``--repeats``
interleaved rounds (a noisy neighbour loads them all alike); medians.

Paths:

- ``torch eager fp32``: the reference (``--backend torch``);
- ``torch channels_last``: both networks channels_last;
- ``torch bf16 (AMX)``: bf16 autocast, channels_last (``--backend bf16``; the default where the CPU has AMX);
- ``ORT fp32``: the graphs of :mod:`vidstyle.backends.graph` in ONNX Runtime (needs ``onnx``);
- ``ORT int8 enc + fp32 dec`` and ``ORT fp32 enc + int8 dec``: each shipped int8 file alone;
- ``ORT int8``: both shipped files (``--backend onnx``; the default on a CPU without AMX).

Encoder and decoder are also timed apart (their medians), so each part's cost
and each part's loss (the mixed rows) can be read separately.

Quality, over ``--frames`` frames of the clip (default 6 frames from frame
50, past the calibration-free ``vtest_5s.mp4`` part) with ``--style``: PSNR of
each path's output (clamped) against torch eager's, and the structure score
(:func:`vidstyle.metrics.structure_score`, lower keeps more of the scene) with
its change against torch eager's. Prints a Markdown table and one line of JSON;
``--results`` writes the table into its section of that file (``benchmarks/report.py``).
"""
from __future__ import annotations

import argparse
import copy
import json
import statistics
import sys
import time
from pathlib import Path

import numpy as np
import torch

import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vidstyle.backends import TorchBackend, cpu_has_amx  # noqa: E402
from vidstyle.backends.ort import OrtBackend  # noqa: E402
from vidstyle.imageio import resize, working_size  # noqa: E402
from vidstyle.metrics import psnr, structure_score  # noqa: E402
from vidstyle.stats import adain  # noqa: E402
from vidstyle.stylize import Stylizer  # noqa: E402
from vidstyle.settings import Span  # noqa: E402
from vidstyle.video import FrameReader  # noqa: E402

DEFAULT_CLIP = ROOT / "examples" / "media" / "vtest_audio.mp4"
DEFAULT_STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"


class OrtFloat:
    """Float32 graphs in ONNX Runtime, with the int8 backend's session handling."""

    def __init__(self, int8: OrtBackend, encoder, decoder, threads: int) -> None:
        from vidstyle.backends.graph import decoder_graph, encoder_graph

        self.inner = int8
        self.bytes = {"encoder": encoder_graph(encoder).SerializeToString(),
                      "decoder": decoder_graph(decoder).SerializeToString()}
        self.sessions: dict[str, object] = {}
        self.threads = threads

    def _run(self, part: str, x: torch.Tensor) -> torch.Tensor:
        import onnxruntime as ort

        if part not in self.sessions:
            opts = ort.SessionOptions()
            opts.intra_op_num_threads, opts.inter_op_num_threads = self.threads, 1
            self.sessions[part] = ort.InferenceSession(self.bytes[part], opts, providers=["CPUExecutionProvider"])
        s = self.sessions[part]
        return torch.from_numpy(s.run(None, {s.get_inputs()[0].name: x.numpy()})[0])

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        return self._run("encoder", x)

    def decode(self, f: torch.Tensor) -> torch.Tensor:
        return self._run("decoder", f)


class ChannelsLast(TorchBackend):
    """Float32, both networks channels_last (the layout of the bf16 path, without bf16)."""

    def __init__(self, encoder, decoder) -> None:
        super().__init__(copy.deepcopy(encoder).to(memory_format=torch.channels_last),
                         copy.deepcopy(decoder).to(memory_format=torch.channels_last), torch.device("cpu"))
        self._layout = torch.channels_last


class Mixed:
    def __init__(self, enc, dec) -> None:
        self.enc, self.dec = enc, dec

    def encode(self, x):
        return self.enc.encode(x)

    def decode(self, f):
        return self.dec.decode(f)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--clip", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--repeats", type=int, default=5)
    ap.add_argument("--frames", default="50:56", help="A:B, the frames quality is measured on")
    ap.add_argument("--threads", type=int, default=0, help="torch and ONNX Runtime threads (default: torch's choice)")
    ap.add_argument("--no-float-onnx", action="store_true", help="skip the ORT fp32 paths (no onnx package)")
    report.add_options(ap)
    args = ap.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    threads = torch.get_num_threads()
    st = Stylizer(device="cpu", size=args.size, backend="torch")
    look = st.look([args.style])
    mean, std = look.styles[0].as_tensors()
    with FrameReader(args.clip, Span(frames=args.frames)) as reader:
        clip = torch.cat([batch.rgb for batch in reader.iter_batches(8)])
    # The working size of a frame whose longest side is --size (the sample clip, 384x288, is
    # stretched to 512x384 for --size 512: what a larger video gives the network at that size).
    long_side = max(clip.shape[-2:])
    h, w = working_size(clip.shape[-2] * args.size // long_side, clip.shape[-1] * args.size // long_side, args.size)
    frames = resize(clip, (h, w)).clamp(0, 1)

    int8 = OrtBackend(threads=threads)
    paths = {"torch eager fp32": st.backend, "torch channels_last": ChannelsLast(st.encoder, st.decoder),
             "torch bf16 (AMX)" if cpu_has_amx() else "torch bf16 (no AMX)": TorchBackend(
                 copy.deepcopy(st.encoder), copy.deepcopy(st.decoder), torch.device("cpu"), bf16=True)}
    if not args.no_float_onnx:
        fp32 = OrtFloat(int8, st.encoder, st.decoder, threads)
        paths |= {"ORT fp32": fp32, "ORT int8 enc + fp32 dec": Mixed(int8, fp32), "ORT fp32 enc + int8 dec": Mixed(fp32, int8)}
    paths["ORT int8"] = int8

    @torch.no_grad()
    def model(backend, x):
        return backend.decode(adain(backend.encode(x).float(), mean, std)).float().clamp(0, 1)

    # Quality first (also the warm-up of every session at this size).
    outs = {name: torch.cat([model(p, f[None]) for f in frames]) for name, p in paths.items()}
    ref = outs["torch eager fp32"]
    structure = {name: float(structure_score(st.encoder, o, frames)) for name, o in outs.items()}
    x = frames[:1]
    times: dict[str, list[float]] = {name: [] for name in paths}
    parts: dict[str, dict[str, list[float]]] = {name: {"encoder": [], "decoder": []} for name in paths}
    with torch.no_grad():
        for _ in range(args.repeats):
            for name, p in paths.items():
                t0 = time.perf_counter()
                feats = p.encode(x).float()
                t1 = time.perf_counter()
                target = adain(feats, mean, std)
                t2 = time.perf_counter()
                p.decode(target).float().clamp(0, 1)
                t3 = time.perf_counter()
                times[name].append(t3 - t0)
                parts[name]["encoder"].append(t1 - t0)
                parts[name]["decoder"].append(t3 - t2)
    ms = {name: 1000 * statistics.median(t) for name, t in times.items()}
    part_ms = {name: {k: 1000 * statistics.median(v) for k, v in d.items()} for name, d in parts.items()}
    base = ms["torch eager fp32"]
    table = ["| path | ms per frame | × torch eager | encoder ms | decoder ms | PSNR vs fp32 (dB) | structure score "
             "| vs fp32 |", "| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: |"]
    rows = {}
    for name in paths:
        db = psnr(outs[name], ref) if name != "torch eager fp32" else float("inf")
        frame_db = [psnr(o, r) for o, r in zip(outs[name], ref)]
        change = structure[name] / structure["torch eager fp32"] - 1
        rows[name] = {"ms": round(ms[name], 1), "speedup": round(base / ms[name], 2),
                      "encoder_ms": round(part_ms[name]["encoder"], 1), "decoder_ms": round(part_ms[name]["decoder"], 1),
                      "psnr_db": round(db, 2), "psnr_min_frame_db": round(min(frame_db), 2),
                      "structure": round(structure[name], 4), "structure_change": round(change, 4),
                      "ms_all": [round(1000 * t, 1) for t in times[name]]}
        shown = "—" if np.isinf(db) else f"{db:.1f} (min {min(frame_db):.1f})"
        table.append(f"| {name} | {ms[name]:.0f} | {base / ms[name]:.2f} | {part_ms[name]['encoder']:.0f} "
                     f"| {part_ms[name]['decoder']:.0f} | {shown} | {structure[name]:.4f} | {100 * change:+.1f}% |")
    report.publish(args, f"bench_backends/cpu-{w}x{h}", "\n".join([
        f"## The model alone on each CPU path, {w}x{h}",
        "",
        f"One process, batch 1, {threads} threads (torch and ONNX Runtime), one frame of {args.clip.name} "
        f"({clip.shape[-1]}x{clip.shape[-2]}) resized to {w}x{h}; "
        f"encoder -> AdaIN -> decoder; every path warmed up, then {args.repeats} interleaved rounds, medians "
        "(encoder and decoder timed apart in the same rounds). Quality over frames "
        f"{args.frames} of {args.clip.name} with {args.style.name}: PSNR of the clamped output against torch eager "
        "float32 (all frames, and the worst frame), and the structure score (lower keeps more of the scene) with its "
        "change. The gate (tests/test_backends.py): PSNR >= 38 dB and structure within 3%.",
        "",
        *table,
    ]))
    print(json.dumps({"threads": threads, "frame": [w, h], "repeats": args.repeats, "frames": args.frames,
                      "style": args.style.name, "paths": rows}))

if __name__ == "__main__":
    main()
