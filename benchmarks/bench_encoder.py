"""What each x264 setting costs the CPU, and what it gives in size and fidelity, on stylized frames.

    python benchmarks/bench_encoder.py --resolution 1080p --results benchmarks/RESULTS.md
    python benchmarks/bench_encoder.py --resolution native --results benchmarks/RESULTS.md
    python benchmarks/bench_encoder.py --size 64 --frames 4 --repeats 1      # smoke test

On the CPU the encoder takes its cycles from the model's, so the preset that
`vidstyle run` picks there (``render.CPU_PRESET`` with ``render.CPU_X264_PARAMS``)
should be cheap without making the files bigger. The frames are the model's
own output: the clip (``vtest_audio.mp4``, or its frames stretched to 1920x1080
as ``bench_video`` does) is stylized at the working size first (not timed), and
every setting then encodes them exactly as the render's writer does: scaled to
the output size by FFmpeg (bicubic) in the conversion to yuv420p, then x264 at
crf 18. Time is the process's CPU time for that (x264's own threads included),
per frame, the median of ``--repeats`` interleaved passes; size is the stream's
bytes; fidelity is the PSNR of the decoded luma against the encoder's input.
"""
from __future__ import annotations

import argparse
import io
import statistics
import sys
import tempfile
import time
from fractions import Fraction
from pathlib import Path

import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
CLIP = ROOT / "examples" / "media" / "vtest_audio.mp4"
STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"


def settings() -> dict[str, dict[str, str]]:
    from vidstyle.render import CPU_PRESET, CPU_X264_PARAMS

    return {
        "veryfast": {"preset": "veryfast"},
        f"vidstyle's CPU default: {CPU_PRESET} + {CPU_X264_PARAMS}": {"preset": CPU_PRESET,
                                                                      "x264-params": CPU_X264_PARAMS},
        "veryfast + me=dia": {"preset": "veryfast", "x264-params": "me=dia"},
        "veryfast + partitions=i8x8,i4x4": {"preset": "veryfast", "x264-params": "partitions=i8x8,i4x4"},
        "veryfast + me=dia:subme=1": {"preset": "veryfast", "x264-params": "me=dia:subme=1"},
        "superfast": {"preset": "superfast"},
        "ultrafast": {"preset": "ultrafast"},
        "medium": {"preset": "medium"},
    }


def stylized_frames(clip: Path, size: int, count: int) -> list:
    """The model's output for the clip's first ``count`` frames, uint8 ``(h, w, 3)`` at the working size."""
    import numpy as np

    from vidstyle.render import codec_scaling
    from vidstyle.stylize import Stylizer
    from vidstyle.video import FrameReader, probe, tensor_to_frames
    from vidstyle.settings import Span

    info = probe(clip)
    stylizer = Stylizer(device="cpu", size=size)
    look = stylizer.look([STYLE])
    scale_to = codec_scaling(info, clip.with_name("out.mp4"), stylizer.size, stylizer.quality)
    out = []
    with FrameReader(clip, Span(frames=(0, count)), info=info, scale_to=scale_to) as reader:
        for b in reader.iter_batches(2):
            out.extend(np.ascontiguousarray(a) for a in tensor_to_frames(stylizer.stylize(b.rgb, look)))
    return out


def encode(frames: list, width: int, height: int, options: dict[str, str], psnr: bool) -> tuple[float, int, float]:
    """CPU ms per frame, bytes and luma PSNR (dB; NaN unless ``psnr``) of one setting."""
    import av
    import numpy as np

    buf = io.BytesIO()
    out = av.open(buf, mode="w", format="mp4")
    stream = out.add_stream("libx264", rate=Fraction(25), options={"crf": "18", **options})
    stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
    inputs = []
    t0 = time.process_time()
    for i, arr in enumerate(frames):
        frame = av.VideoFrame.from_ndarray(arr, format="rgb24").reformat(
            width=width, height=height, format="yuv420p", interpolation="BICUBIC")
        frame.pts = i
        if psnr:
            inputs.append(frame.to_ndarray()[:height].astype(np.float64))
        for p in stream.encode(frame):
            out.mux(p)
    for p in stream.encode(None):
        out.mux(p)
    cpu = time.process_time() - t0
    out.close()
    size = len(buf.getvalue())
    db = float("nan")
    if psnr:
        buf.seek(0)
        with av.open(buf) as c:
            mse = [((f.to_ndarray()[:height].astype(np.float64) - inputs[i]) ** 2).mean()
                   for i, f in enumerate(c.decode(video=0))]
        db = float(10 * np.log10(255.0 ** 2 / max(float(np.mean(mse)), 1e-12)))
    return 1000 * cpu / len(frames), size, db


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--resolution", choices=["native", "1080p"], default="1080p")
    ap.add_argument("--size", type=int, default=512, help="the network's working size, as `vidstyle run --size`")
    ap.add_argument("--frames", type=int, default=48)
    ap.add_argument("--repeats", type=int, default=3)
    report.add_options(ap)
    args = ap.parse_args()

    import av

    from bench_video import upscale_clip

    with tempfile.TemporaryDirectory(prefix="bench_encoder_") as tmp:
        clip = CLIP
        if args.resolution == "1080p":
            clip = Path(tmp) / "clip_1080p.mp4"
            upscale_clip(CLIP, clip, 1920, 1080, stop=args.frames)
        with av.open(str(clip)) as c:
            width, height = c.streams.video[0].width, c.streams.video[0].height
        frames = stylized_frames(clip, args.size, args.frames)
    cases = settings()
    runs: dict[str, list[tuple[float, int, float]]] = {k: [] for k in cases}
    with report.Paused():
        for r in range(args.repeats):
            for name, options in cases.items():
                runs[name].append(encode(frames, width, height, options, psnr=(r == 0)))
    base_ms = statistics.median(ms for ms, _, _ in runs["veryfast"])
    base_bytes = runs["veryfast"][0][1]
    h, w = frames[0].shape[:2]
    lines = [
        f"## x264 on stylized frames, {width}x{height}",
        "",
        f"{len(frames)} frames of {CLIP.name}{' stretched to 1080p' if args.resolution == '1080p' else ''}, "
        f"stylized at {w}x{h} (`--size {args.size}`, {STYLE.name}; not timed), scaled to {width}x{height} "
        f"(bicubic) and encoded at crf 18 as the render's writer does. CPU: process CPU time of the scaling "
        f"and the encoder (its threads included) per frame, median of {args.repeats} interleaved passes. "
        "PSNR: decoded luma against the encoder's input.",
        "",
        "| setting | CPU ms/frame | x veryfast | bytes | x veryfast | PSNR (Y) |",
        "| --- | ---: | ---: | ---: | ---: | ---: |",
    ]
    for name, rows in runs.items():
        ms = statistics.median(m for m, _, _ in rows)
        size, db = rows[0][1], rows[0][2]
        lines.append(f"| {name} | {ms:.1f} | {ms / base_ms:.2f} | {size:,} | {size / base_bytes:.2f} | {db:.2f} dB |")
    report.publish(args, f"bench_encoder/cpu-{args.resolution}", "\n".join(lines))


if __name__ == "__main__":
    main()
