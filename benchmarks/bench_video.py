"""Frames per second of decode alone, model alone and the whole run, side by side.

    python benchmarks/bench_video.py --size 512 --repeats 3 --note "quiet" --results benchmarks/RESULTS.md

(issue 4: target on the 2-core CPU, whole-run fps / model-alone fps >= 0.9 at
``--size 512``.) On a GPU, with a clip scaled up first:

    python benchmarks/bench_video.py --device cuda --resolution 1080p
    python benchmarks/bench_video.py --device cuda --resolution 4k --frames 0:30

``--size`` is the longest side the network works at (never above the clip's
own): give ``--size 1920`` at 1080p and ``--size 3840`` at 4k for the model to
work at the full frame. ``benchmarks/gpu_speed.sh`` runs the GPU set.

In one process, on one clip (default ``examples/media/vtest_audio.mp4``,
which has audio) and one loaded :class:`~vidstyle.stylize.Stylizer`:

1. decode: :meth:`vidstyle.video.FrameReader.iter_batches` over the clip (or
   the ``--frames`` range), which makes the float tensors the real run makes
   (pinned, as the real run pins them, on CUDA; at the working size where the
   run lets FFmpeg scale, :func:`vidstyle.render.codec_scaling`);
2. model: :meth:`~vidstyle.stylize.Stylizer.stylize` over the same frames,
   decoded beforehand and held in memory, in the same batches, without and
   with the temporal stage's hooks ("model + steady", as the run calls the
   model with steady video on; ``--no-steady`` drops it from the whole run);
3. whole run: :func:`vidstyle.stylize_video` to a temporary file with the
   default encoder settings of ``vidstyle run``, audio included. Its time is
   the whole call (probe, writer open and close, audio muxing included);
   ``--codec`` picks its encoder (default libx264, as ``vidstyle run``). The
   model is loaded and the style encoded once, outside every timing: the style
   goes to the whole run as a saved ``.style`` file, as ``vidstyle style`` makes.

Each is run once to warm up, then ``--repeats`` rounds of the three in turn;
the medians are reported, then the overhead ratio whole-run fps / model fps, then one line of
JSON. On CUDA every timing ends with ``torch.cuda.synchronize()``. ``--results`` writes
the row into the section ``bench_video/<device>-<resolution>`` of that file (``benchmarks/report.py``).

``--resolution 1080p|4k`` first writes a synthetic clip in a temporary folder:
the clip's frames stretched to 1920x1080 or 3840x2160 (Lanczos; the pixel
count is what matters here, not the aspect), x264 ``veryfast`` crf 18, the
source's timestamps and its audio packets copied. Model-alone holds every
frame as float32 in memory (a 4k frame is ~100 MB): use ``--frames`` to bound it.
This machine is shared and noisy: read the medians. While another job keeps
the cores busy, torch's intra-op threads wait on each other (here the model ran
~7x slower with 2 threads than with ``--threads 1`` beside a training job), so
run the real benchmark on an idle machine, or pin ``--threads``.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import replace
from fractions import Fraction
from pathlib import Path

import av
import torch

import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vidstyle.imageio import working_size  # noqa: E402
from vidstyle.render import codec_scaling, default_batch, default_encode, frame_scale, stylize_video  # noqa: E402
from vidstyle.settings import EncodeSettings, ModelSettings, Span, SteadySettings, StyleSettings  # noqa: E402
from vidstyle.stylize import Stylizer, save_style  # noqa: E402
from vidstyle.temporal import Temporal  # noqa: E402
from vidstyle.video import FrameReader, parse_frame_range, probe  # noqa: E402

DEFAULT_CLIP = ROOT / "examples" / "media" / "vtest_audio.mp4"
DEFAULT_STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"
RESOLUTIONS = {"480p": (640, 480), "720p": (1280, 720), "1080p": (1920, 1080), "4k": (3840, 2160)}


def allow_nvenc(name: str) -> None:
    """For this benchmark only: let the writer use an NVENC encoder, which vidstyle does not list.

    Same container and pixel format as libx264; ``crf`` becomes NVENC's
    constant-quality ``cq`` (VBR, no bitrate cap), preset p4.
    """
    from vidstyle.video import codecs, writer

    codecs.CODECS.setdefault(name, codecs.CodecSpec(name, ".mp4", "yuv420p", 51, None))
    plain = codecs.encoder_options

    def options(spec: codecs.CodecSpec, crf: int, preset: str, x264_params: str | None = None) -> dict[str, str]:
        if spec.encoder.endswith("_nvenc"):
            return {"preset": "p4", "rc": "vbr", "cq": str(crf), "b": "0"}
        return plain(spec, crf, preset, x264_params)

    writer.encoder_options = options


def upscale_clip(src: Path, dest: Path, width: int, height: int, stop: int | None = None) -> int:
    """Write ``src``'s frames stretched to ``width`` x ``height`` into ``dest``, with its audio copied.

    Frames keep their timestamps; audio packets are copied untouched. With
    ``stop``, only the first ``stop`` frames are written (audio up to about there).

    Returns:
        The number of frames written.
    """
    with av.open(str(src)) as inp, av.open(str(dest), "w") as out:
        vin = inp.streams.video[0]
        v = out.add_stream("libx264", rate=vin.average_rate or Fraction(25), options={"crf": "18", "preset": "veryfast"})
        v.width, v.height, v.pix_fmt = width, height, "yuv420p"
        v.codec_context.time_base = vin.time_base
        audio = [(ain, out.add_stream_from_template(ain)) for ain in inp.streams.audio]
        route = {ain.index: aout for ain, aout in audio}
        n = 0
        for packet in inp.demux(vin, *(ain for ain, _ in audio)):
            if packet.stream.type == "audio":
                if packet.dts is not None and packet.size:
                    packet.stream = route[packet.stream.index]
                    out.mux(packet)
                continue
            if stop is not None and n >= stop:
                continue  # keep demuxing: audio packets may still come before the end
            for frame in vin.decode(packet):
                if stop is not None and n >= stop:
                    break
                big = frame.reformat(width=width, height=height, format="yuv420p", interpolation="LANCZOS")
                big.pts, big.time_base = frame.pts, frame.time_base
                big.pict_type = av.video.frame.PictureType.NONE  # let x264 choose
                out.mux(v.encode(big))
                n += 1
        if stop is None or n < stop:
            for frame in vin.decode(None):  # the decoder's delayed frames
                if stop is not None and n >= stop:
                    break
                big = frame.reformat(width=width, height=height, format="yuv420p", interpolation="LANCZOS")
                big.pts, big.time_base = frame.pts, frame.time_base
                big.pict_type = av.video.frame.PictureType.NONE
                out.mux(v.encode(big))
                n += 1
        out.mux(v.encode())
    return n


def timed(fns: dict[str, Callable[[], int]], repeats: int, sync: Callable[[], None]) -> dict[str, tuple[list[float], int]]:
    """Warm each up once, then time ``repeats`` rounds of all of them in turn.

    Interleaved rounds spread a noisy neighbour's load over every measurement
    alike. Each ``fn`` returns the number of frames it did.
    """
    frames = {}
    for name, fn in fns.items():
        frames[name] = fn()
        sync()
    times: dict[str, list[float]] = {name: [] for name in fns}
    for _ in range(repeats):
        for name, fn in fns.items():
            t = time.perf_counter()
            done = fn()
            sync()
            times[name].append(time.perf_counter() - t)
            if done != frames[name]:
                raise RuntimeError(f"{name}: a repeat did {done} frames, the warm-up {frames[name]}")
    return {name: (times[name], frames[name]) for name in fns}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("clip", nargs="?", type=Path, default=DEFAULT_CLIP)
    ap.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--batch", type=int, default=None, help="default: what `vidstyle run` picks")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--frames", default=None, help="A:B, half-open frame indices (default: the whole clip)")
    ap.add_argument("--resolution", choices=["native", *RESOLUTIONS], default="native")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (default: torch's choice)")
    ap.add_argument("--codec", default="libx264", help="the whole run's encoder (h264_nvenc/hevc_nvenc allowed here)")
    ap.add_argument("--preset", default=None, help="the whole run's encoder preset (default: what `vidstyle run` picks)")
    ap.add_argument("--backend", default="auto", help="as `vidstyle run --backend`")
    ap.add_argument("--quality", default="full", help="as `vidstyle run --quality`")
    ap.add_argument("--no-steady", action="store_true", help="the whole run without the temporal stage (`--no-steady`)")
    report.add_options(ap)
    args = ap.parse_args()
    if args.codec.endswith("_nvenc"):
        allow_nvenc(args.codec)
    if args.threads:
        torch.set_num_threads(args.threads)
    frames = parse_frame_range(args.frames) if args.frames else None

    with tempfile.TemporaryDirectory(prefix="bench_video_") as tmp:
        clip = args.clip
        if args.resolution != "native":
            w, h = RESOLUTIONS[args.resolution]
            clip = Path(tmp) / f"{args.clip.stem}_{args.resolution}.mp4"
            t = time.perf_counter()
            n = upscale_clip(args.clip, clip, w, h, stop=frames[1] if frames else None)
            print(f"wrote {n} frames at {w}x{h} to a temporary clip in {time.perf_counter() - t:.1f} s (not timed)")
        info = probe(clip)

        model_settings = ModelSettings(args.size, args.device, args.batch, args.backend, args.quality)
        stylizer = Stylizer.from_settings(model_settings)  # loaded once, outside every timing
        dev = stylizer.device
        cuda = dev.type == "cuda"
        sync = torch.cuda.synchronize if cuda else (lambda: None)
        batch = args.batch or default_batch(dev.type, stylizer.size)
        # The style is encoded once, here, and saved as `vidstyle style` would: the
        # whole run loads the .style file, so style encoding (a fixed cost) is in no timing.
        style = Path(tmp) / f"{args.style.stem}.style"
        save_style(stylizer.load_style(args.style), style)
        look = stylizer.look([style])
        out = Path(tmp) / "out.mp4"
        # Decoded as the whole run decodes them: at the working size when FFmpeg scales.
        scale_to = codec_scaling(info, out, stylizer.size, stylizer.quality)

        def decode() -> int:
            n = 0
            with FrameReader(clip, Span(frames=frames), info=info, scale_to=scale_to) as reader:
                for b in reader.iter_batches(batch):
                    if cuda:
                        b.rgb = b.rgb.pin_memory()  # as run_pipeline does for CUDA
                    n += len(b.indices)
            return n

        with FrameReader(clip, Span(frames=frames), info=info, scale_to=scale_to) as reader:
            held = [b.rgb.pin_memory() if cuda else b.rgb for b in reader.iter_batches(batch)]

        def model() -> int:
            for rgb in held:
                stylizer.stylize(rgb, look)
            return sum(len(rgb) for rgb in held)

        steady = SteadySettings(enabled=not args.no_steady)

        def model_steady() -> int:
            # The model stage as the whole run calls it: the temporal stage's hooks around the networks.
            state = Temporal(steady.temporal())
            index = frames[0] if frames else 0
            for rgb in held:
                indices = range(index, index + len(rgb))
                stylizer.stylize(rgb, look, hooks=state.hooks([False] * len(rgb), regrid=state.regrid(indices)))
                index += len(rgb)
            return sum(len(rgb) for rgb in held)

        pipeline: list = []
        encode = EncodeSettings(args.codec) if args.preset is None else EncodeSettings(args.codec, preset=args.preset)
        # What the whole run will encode with (the preset follows the frame against the working size).
        chosen = default_encode(encode, dev.type, frame_scale(info.height, info.width, stylizer.size, stylizer.quality))
        preset = chosen.preset + (f" ({chosen.x264_params})" if chosen.x264_params and args.codec == "libx264" else "")

        def whole() -> int:
            result = stylize_video(
                clip, out, StyleSettings([style]), model=replace(model_settings, batch=batch),
                encode=encode, span=Span(frames=frames), overwrite=True, stylizer=stylizer,
                steady=steady,
            )
            pipeline.append(result)
            return result.frames

        fns = {"decode": decode, "model": model, "model + steady": model_steady, "whole run": whole}
        if args.no_steady:
            del fns["model + steady"]
        results = timed(fns, args.repeats, sync)
        counts = {name: n for name, (_, n) in results.items()}
        if len(set(counts.values())) != 1:
            raise RuntimeError(f"the three timings did different numbers of frames: {counts}")
        n = counts["decode"]
        with av.open(str(out)) as c:
            audio_streams = len(c.streams.audio)
        out_bytes = out.stat().st_size
        del held

    fps = {name: n / statistics.median(times) for name, (times, _) in results.items()}
    ratio = fps["whole run"] / fps["model"]
    ratio_steady = fps["whole run"] / fps["model + steady"] if "model + steady" in fps else None

    def per_round(base: str) -> list[float]:
        # Each round's whole run against the same round's model: a noisy
        # neighbour's load changes less within a round than across the run.
        return sorted(b / w for b, w in zip(results[base][0], results["whole run"][0]))

    rounds = {k: per_round(k) for k in ("model", "model + steady") if k in results}
    runs = pipeline[1:]  # the timed ones
    stage = {k: statistics.median(getattr(r, k) for r in runs) for k in ("fps", "decode_fps", "model_fps", "encode_fps")}
    gpu = f" ({torch.cuda.get_device_name(dev)})" if cuda else ""
    print(
        f"device {dev}{gpu}, threads {torch.get_num_threads()}, clip {args.clip.name} "
        f"({info.width}x{info.height}, {n} frames{', ' + args.frames if args.frames else ''}), "
        f"size {stylizer.size}, batch {batch}, repeats {args.repeats}, codec {args.codec} {preset}, "
        f"backend {stylizer.backend.name}, quality {stylizer.quality}, audio streams out {audio_streams}, "
        f"output {out_bytes} bytes"
    )
    for name, (times, _) in results.items():
        print(
            f"{name:10s} {fps[name]:8.2f} fps  median {statistics.median(times):8.3f} s  "
            f"(min {min(times):.3f}, max {max(times):.3f})"
        )
    print(f"overhead   whole run / model = {ratio:.3f}  (target >= 0.9)")
    if ratio_steady is not None:
        print(f"overhead   whole run / (model + steady) = {ratio_steady:.3f}")
    for k, r in rounds.items():
        print(f"per round  whole run / {k}: median {statistics.median(r):.3f} (min {r[0]:.3f}, max {r[-1]:.3f})")
    print(
        f"inside the whole run (medians): pipeline {stage['fps']:.2f} fps; busy-time rates "
        f"decode {stage['decode_fps']:.2f}, model {stage['model_fps']:.2f}, encode {stage['encode_fps']:.2f} fps"
    )
    print(json.dumps({
        "device": str(dev), "gpu": gpu.strip(" ()") or None, "threads": torch.get_num_threads(),
        "clip": args.clip.name, "resolution": args.resolution, "width": info.width, "height": info.height,
        "frames": n, "frame_range": args.frames, "size": args.size, "batch": batch, "repeats": args.repeats,
        "codec": args.codec, "preset": preset, "backend": stylizer.backend.name, "quality": stylizer.quality,
        "output_bytes": out_bytes,
        "fps": {k: round(v, 3) for k, v in fps.items()},
        "seconds": {k: [round(t, 4) for t in times] for k, (times, _) in results.items()},
        "overhead_ratio": round(ratio, 4),
        "overhead_ratio_steady": None if ratio_steady is None else round(ratio_steady, 4),
        "per_round_ratios": {k: [round(x, 4) for x in r] for k, r in rounds.items()},
        "whole_run_stages_fps": {k: round(v, 3) for k, v in stage.items()},
    }))
    h, w = working_size(info.height, info.width, stylizer.size)
    shown = "" if args.resolution == "native" else f" stretched to {args.resolution}"
    case = f"{dev.type}-{args.resolution}"
    if (args.backend, args.quality, args.preset) != ("auto", "full", None):
        case += f"-{stylizer.backend.name}-{stylizer.quality}-{preset}"
    if args.no_steady:
        case += "-no-steady"
    report.publish(args, f"bench_video/{case}", "\n".join([
        f"### `{args.clip.name}`{shown}",
        "",
        f"{info.width}x{info.height}, {n} frames ({args.frames or 'all'}), the network at {w}x{h} "
        f"(`--size {args.size}`, quality {stylizer.quality}), backend {stylizer.backend.name}, batch {batch}, on "
        f"{dev}{gpu}; the whole run encodes with {args.codec} preset {preset} (crf {encode.crf}) and copies the audio "
        f"({audio_streams} stream(s)), steady video {'off' if args.no_steady else 'on'}; frames decoded "
        f"{'at the working size and scaled back up by FFmpeg' if scale_to else 'at full size'}, in the model-alone "
        f"timing too. One warm-up, then medians of {args.repeats} interleaved repeats.",
        "",
        "| decode alone | model alone | model + steady | whole run | whole / model | whole / (model + steady) "
        "| inside the run: decode / model / encode busy | output bytes |",
        "| ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |",
        f"| {fps['decode']:.2f} fps | {fps['model']:.2f} fps | "
        f"{'—' if ratio_steady is None else format(fps['model + steady'], '.2f') + ' fps'} | "
        f"{fps['whole run']:.2f} fps | **{ratio:.3f}** | {'—' if ratio_steady is None else f'**{ratio_steady:.3f}**'} "
        f"| {stage['decode_fps']:.1f} / {stage['model_fps']:.1f} / {stage['encode_fps']:.1f} fps | {out_bytes:,} |",
        "",
        "Round by round (each whole run against the same round's model, the steadier figure on a noisy host): "
        + "; ".join(f"whole / {k} median {statistics.median(r):.3f} (range {r[0]:.3f}-{r[-1]:.3f})"
                    for k, r in rounds.items()) + ".",
    ]), device=str(dev))


if __name__ == "__main__":
    main()
