#!/usr/bin/env python3
"""Make the int8 ONNX Runtime files from the shipped weights and the shipped calibration set.

    python training/make_int8.py                  # weights/{encoder,decoder}_int8.onnx, weights/int8.json, SHA256SUMS
    python training/make_int8.py --check          # re-make in a temporary folder; exit 1 unless byte-identical
    python training/make_int8.py calibration --data training/data   # (re)write training/calibration/

Needs ``onnx`` and ``onnxruntime`` (``pip install -e ".[training]"``); running
the files needs only ``onnxruntime``. Run it again whenever
``weights/decoder.safetensors`` (or the encoder) changes: ``weights/int8.json``
records the sha256 of the weights the files were made from, the loader refuses
files made from other weights, and ``tests/test_int8.py`` fails until they are
re-made (and re-checks the quality gate on the new ones).

The recipe (``RECIPE``, also written into ``int8.json``):

1. Both networks are written as ONNX graphs from the weights
   (:mod:`vidstyle.backends.graph`).
2. Per-channel equalisation: int8 activations have one scale per tensor, and
   the channels of these networks span very different ranges (the median
   channel's maximum is a fifth of the largest), so most channels would get a
   few of the 256 levels. Each layer's output channel ``c`` is divided by
   ``s_c = r_c**a / w_c**(1 - a)`` and the next layer's weights multiplied by it
   (SmoothQuant's balance; ``r_c`` the channel's largest activation over the
   calibration set, ``w_c`` the largest weight that reads it, ``a`` per network).
   Exact in float: ReLU, max-pooling, nearest upsampling and reflection padding
   all commute with a positive per-channel factor.
3. Static QDQ quantization (ONNX Runtime): weights int8 per output channel,
   activations uint8 per tensor, ranges by min/max over the calibration set.
   Layers listed in ``float`` stay float32, and the graph outputs stay float
   (the encoder's features go to AdaIN, the decoder's picture to the screen).

Calibration set (``training/calibration/``, see its README): 12 photographs,
cropped to 384x288, through the encoder; their relu4_1 features given the
statistics of each of 6 style images (AdaIN, alpha 1) through the decoder.
Same weights, calibration set and onnx/onnxruntime versions give the same bytes.
"""
from __future__ import annotations

import argparse
import csv
import hashlib
import io
import json
import sys
import tempfile
from pathlib import Path

import torch

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
from vidstyle.backends.graph import (  # noqa: E402
    DECODER_INPUT,
    DECODER_OUTPUT,
    ENCODER_INPUT,
    ENCODER_OUTPUT,
    decoder_graph,
    encoder_graph,
)
from vidstyle.backends.ort import (  # noqa: E402
    DECODER_INT8,
    ENCODER_INT8,
    MANIFEST,
    source_sums,
)
from vidstyle.digest import file_sha256 as sha256_file  # noqa: E402
from vidstyle.imageio import read_image  # noqa: E402
from vidstyle.model import (  # noqa: E402
    SUMS_FILE,
    VGG_LAYERS,
    Decoder,
    Encoder,
    _decoder_layers,
    load_decoder,
    load_encoder,
)
from vidstyle.stats import adain, channel_stats  # noqa: E402

CALIBRATION = ROOT / "training" / "calibration"
WEIGHTS = ROOT / "weights"
CONTENT_SIZE = (288, 384)  # height, width: every calibration input has one shape
STYLE_SIZE = 512  # longest side, as Stylizer.style_stats takes a style's statistics
QUALITY = 90

# Prepared files of training/data (training/manifest.csv gives their sources).
CONTENT = (
    "content/lomiri-wallpapers-16-04-66268e7b48f8854d.jpg",  # mountain landscape
    "content/lomiri-wallpapers-16-04-cc40e313c74e421e.jpg",  # dogs at a window
    "content/opencv-doc-742a1baad62ac82e.jpg",  # building.jpg
    "content/opencv-doc-b2977cdbd9fb3f94.jpg",  # leuvenA.jpg, a street
    "content/opencv-doc-1d570e49654e84c7.jpg",  # messi5.jpg, sport
    "content/opencv-doc-7f3041a7019ab4d3.jpg",  # scenetext01.jpg, street and cars
    "content/opencv-doc-b038fd3919363b92.jpg",  # a face
    "content/opencv-doc-55c82505db9ff727.jpg",  # fusion_mertens.jpg, a city at night
    "content/opencv-doc-4f7158ae7b403405.jpg",  # studentsSample_input.jpg, people indoors
    "content/scikit-image-88431cd9653ccd53.jpg",  # astronaut.png
    "content/scikit-image-b0793d2adda0fa6a.jpg",  # camera.png, greyscale
    "content/scikit-image-db18e9c415761740.jpg",  # motorcycle_left.png
)
STYLES = (
    "style/lomiri-wallpapers-16-04-bfb425545e77e9f0.jpg",  # umang, abstract colour
    "style/mypaint-data-extras-abb1c9d5ae5ef55b.jpg",  # HR_Cork, a texture
    "content/opencv-doc-1a1dd18d78eec444.jpg",  # baboon.jpg, saturated colour
    "content/opencv-doc-9c031d80a1c52da5.jpg",  # fruits.jpg
    "content/opencv-doc-2d38d025281a2728.jpg",  # bicubicOutput.jpg, peppers
    "content/opencv-doc-3994737ba4435440.jpg",  # fusion.png, an ornate dome
)

RECIPE = {
    "activations": "uint8, per tensor, min/max over the calibration set",
    "weights": "int8, per output channel",
    "format": "QDQ",
    # Encoder 0.9 (was 0.75): with the decoder of 5f80c474 the int8 encoder alone gave 37.9 dB
    # at 512x384 with 0.75, 40.2 dB with 0.9 and conv1_1 in float (0.5: 37.7, 1.0: 39.8).
    "equalisation_alpha": {"encoder": 0.9, "decoder": 0.5},
    # AdaIN's output spans what the style makes it (not the calibration's styles):
    # in int8 it alone cost the decoder 20 dB. Its first layer stays float (8% of its work).
    # The encoder's first layer reads the 0..255 picture and has 3 input channels (under 1% of
    # the encoder's work): in float it gained 1.5 dB at 512x384.
    "float": {"encoder": ["enc.conv1_1"], "decoder": ["dec.conv4_1.pad", "dec.conv4_1"]},
}


# --------------------------------------------------------------------------- calibration set


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def _centre_crop(im, height: int, width: int):
    from PIL import Image

    scale = max(height / im.height, width / im.width)
    size = (max(width, round(im.width * scale)), max(height, round(im.height * scale)))
    im = im.resize(size, Image.LANCZOS)
    x0, y0 = (im.width - width) // 2, (im.height - height) // 2
    return im.crop((x0, y0, x0 + width, y0 + height))


def _longest(im, side: int):
    from PIL import Image

    scale = min(1.0, side / max(im.size))
    return im.resize((round(im.width * scale), round(im.height * scale)), Image.LANCZOS)


def write_calibration(data: Path, out: Path = CALIBRATION) -> None:
    """Write the calibration images from a prepared training set, and their manifest."""
    from PIL import Image

    sources = {r["prepared_file"]: r for r in csv.DictReader(open(ROOT / "training" / "manifest.csv"))}
    rows = []
    for role, names in (("content", CONTENT), ("style", STYLES)):
        (out / role).mkdir(parents=True, exist_ok=True)
        for name in names:
            src = sources[name]
            with Image.open(data / name) as im:
                im = im.convert("RGB")
                im = _centre_crop(im, *CONTENT_SIZE) if role == "content" else _longest(im, STYLE_SIZE)
            buf = io.BytesIO()
            im.save(buf, "JPEG", quality=QUALITY)
            file = f"{role}/{Path(name).name}"
            (out / file).write_bytes(buf.getvalue())
            rows.append({
                "file": file, "role": role, "width": im.width, "height": im.height,
                "package": src["package"], "version": src["version"], "licence": src["licence"],
                "source_file": src["source_file"], "source_sha256": src["sha256"],
                "prepared_file": name, "sha256": _sha256(buf.getvalue()),
            })
    with open(out / "manifest.csv", "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)


def calibration_files(folder: Path = CALIBRATION) -> tuple[list[Path], list[Path], str]:
    """Content and style files of the calibration set, sha256-checked, and one digest of them all."""
    rows = list(csv.DictReader(open(folder / "manifest.csv")))
    for r in rows:
        actual = sha256_file(folder / r["file"])
        if actual != r["sha256"]:
            raise SystemExit(f"{folder / r['file']} does not match its sha256 in {folder / 'manifest.csv'}")
    listing = "".join(f"{r['sha256']}  {r['file']}\n" for r in rows)
    content = [folder / r["file"] for r in rows if r["role"] == "content"]
    styles = [folder / r["file"] for r in rows if r["role"] == "style"]
    return content, styles, _sha256(listing.encode())


@torch.no_grad()
def calibration_inputs(encoder: Encoder, content: list[Path], styles: list[Path]):
    """Encoder inputs ``(1, 3, 288, 384)`` and decoder inputs (AdaIN features), every content x style."""
    frames = [read_image(p).rgb for p in content]
    for p, x in zip(content, frames):
        if tuple(x.shape[-2:]) != CONTENT_SIZE:
            raise SystemExit(f"{p} is {x.shape[-1]}x{x.shape[-2]}, not {CONTENT_SIZE[1]}x{CONTENT_SIZE[0]}")
    stats = [channel_stats(encoder.encode(read_image(p).rgb)) for p in styles]
    feats = [encoder.encode(x) for x in frames]
    return frames, [adain(f, mean, std) for f in feats for mean, std in stats]


# --------------------------------------------------------------------------- equalisation


@torch.no_grad()
def channel_maxima(module: torch.nn.Module, convs: dict[str, torch.nn.Conv2d], run, inputs) -> dict[str, torch.Tensor]:
    """Largest post-ReLU activation per output channel of each conv, over ``run(x)`` for ``x`` in inputs."""
    maxima: dict[str, torch.Tensor] = {}

    def hook(name):
        def keep(_m, _i, out):
            m = out.amax(dim=(0, 2, 3)).clamp_min(0)
            maxima[name] = torch.maximum(maxima[name], m) if name in maxima else m
        return keep

    handles = [conv.register_forward_hook(hook(name)) for name, conv in convs.items()]
    try:
        for x in inputs:
            run(x)
    finally:
        for h in handles:
            h.remove()
    return maxima


def balance(r: torch.Tensor, next_weight: torch.Tensor | None, alpha: float) -> torch.Tensor:
    """SmoothQuant's per-channel factor ``r**a / w**(1-a)`` (scaled to a largest value of 1).

    ``r`` ``(C,)``: the channel's largest activation; ``next_weight`` ``(O, C, kh, kw)``
    the weights that read the channel (None: nothing reads it in int8).
    """
    w = next_weight.abs().amax(dim=(0, 2, 3)) if next_weight is not None else torch.ones_like(r)
    s = r.clamp_min(1e-6) ** alpha / w.clamp_min(1e-6) ** (1 - alpha)
    return s / s.max()


def encoder_factors(encoder: Encoder, frames, alpha: float) -> dict[str, torch.Tensor]:
    maxima = channel_maxima(encoder, dict(encoder.convs.items()), encoder.encode, frames)
    names = [n for n, _, _ in VGG_LAYERS]
    nxt = {a: encoder.convs[b].weight for a, b in zip(names, names[1:])}
    return {n: balance(maxima[n], nxt.get(n), alpha) for n in names}


def decoder_factors(decoder: Decoder, feats, alpha: float) -> dict[str, torch.Tensor]:
    """Factors for each layer's output; the input (AdaIN's features) is read by a float layer and left alone."""
    maxima = channel_maxima(decoder, dict(decoder.convs.items()), decoder, feats)
    names = [n for n, *_ in _decoder_layers()]
    return {a: balance(maxima[a], decoder.convs[b].weight, alpha) for a, b in zip(names, names[1:])}


# --------------------------------------------------------------------------- quantization


def quantize(model, input_name: str, inputs: list[torch.Tensor], keep_float: list[str], workdir: Path) -> bytes:
    """Static QDQ int8 of an ONNX model; graph outputs and ``keep_float`` nodes stay float."""
    import onnx
    from onnxruntime.quantization import CalibrationDataReader, CalibrationMethod, QuantFormat, QuantType, quantize_static

    class Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{input_name: x.numpy()} for x in inputs])

        def get_next(self):
            return next(self.items, None)

    src, dst = workdir / "fp32.onnx", workdir / "int8.onnx"
    onnx.save(model, src)
    outputs = [n.name for n in model.graph.node if n.op_type == "Identity"]
    quantize_static(
        str(src), str(dst), Reader(), quant_format=QuantFormat.QDQ, per_channel=True,
        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, calibrate_method=CalibrationMethod.MinMax,
        nodes_to_exclude=list(keep_float) + outputs,
        extra_options={"OpTypesToExcludeOutputQuantization": [], "ForceQuantizeNoInputCheck": False},
    )
    q = onnx.load(dst)
    _float_outputs(q)
    return q.SerializeToString()


def _float_outputs(model) -> None:
    """Drop the Quantize/Dequantize pair in front of each graph output: the last layer writes float."""
    out_names = {o.name for o in model.graph.output}
    feeding = {n.output[0]: n for n in model.graph.node if n.op_type == "Identity" and n.output[0] in out_names}
    producers = {n.output[0]: n for n in model.graph.node}
    drop = []
    for ident in feeding.values():
        dq = producers.get(ident.input[0])
        if dq is None or dq.op_type != "DequantizeLinear":
            continue
        q = producers.get(dq.input[0])
        if q is None or q.op_type != "QuantizeLinear":
            continue
        ident.input[0] = q.input[0]
        drop += [dq, q]
    for n in drop:
        model.graph.node.remove(n)
    used = {name for n in model.graph.node for name in n.input}
    for init in [i for i in model.graph.initializer if i.name not in used]:
        model.graph.initializer.remove(init)


def make(out: Path, folder: Path = WEIGHTS, calibration: Path = CALIBRATION, recipe: dict = RECIPE) -> dict:
    """Write both int8 files and the manifest into ``out``; return the manifest."""
    import onnx
    import onnxruntime

    torch.set_num_threads(max(1, torch.get_num_threads()))
    encoder, decoder = load_encoder(folder), load_decoder(folder)
    content, styles, cal_digest = calibration_files(calibration)
    frames, feats = calibration_inputs(encoder, content, styles)
    alpha = recipe["equalisation_alpha"]
    enc_eq = encoder_factors(encoder, frames, alpha["encoder"]) if alpha["encoder"] is not None else None
    dec_eq = decoder_factors(decoder, feats, alpha["decoder"]) if alpha["decoder"] is not None else None
    enc_model, dec_model = encoder_graph(encoder, enc_eq), decoder_graph(decoder, dec_eq)
    out.mkdir(parents=True, exist_ok=True)
    files = {}
    with tempfile.TemporaryDirectory(prefix="vidstyle_int8_") as tmp:
        for name, model, inp, inputs, keep in (
            (ENCODER_INT8, enc_model, ENCODER_INPUT, frames, recipe["float"]["encoder"]),
            (DECODER_INT8, dec_model, DECODER_INPUT, feats, recipe["float"]["decoder"]),
        ):
            data = quantize(model, inp, inputs, keep, Path(tmp))
            (out / name).write_bytes(data)
            files[name] = _sha256(data)
    manifest = {
        "made_by": "python training/make_int8.py",
        "made_from": source_sums(folder),
        "calibration": {"folder": "training/calibration", "sha256_of_listing": cal_digest,
                        "content": len(content), "styles": len(styles), "decoder_inputs": len(feats)},
        "recipe": recipe,
        "versions": {"onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__, "torch": torch.__version__},
        "files": files,
        "io": {"encoder": [ENCODER_INPUT, ENCODER_OUTPUT], "decoder": [DECODER_INPUT, DECODER_OUTPUT]},
    }
    (out / MANIFEST).write_text(json.dumps(manifest, indent=2) + "\n")
    return manifest


def update_sums(folder: Path, names: list[str]) -> None:
    """Put the sha256 of ``names`` into ``folder/SHA256SUMS`` (other entries kept)."""
    path = folder / SUMS_FILE
    lines = {}
    for line in path.read_text().splitlines():
        if line.strip():
            digest, name = line.split(maxsplit=1)
            lines[name] = digest
    for name in names:
        lines[name] = sha256_file(folder / name)
    path.write_text("".join(f"{d}  {n}\n" for n, d in lines.items()))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    sub = ap.add_subparsers(dest="command")
    cal = sub.add_parser("calibration", help="(re)write training/calibration/ from a prepared training set")
    cal.add_argument("--data", type=Path, default=ROOT / "training" / "data")
    ap.add_argument("--check", action="store_true", help="re-make in a temporary folder and compare with weights/")
    args = ap.parse_args(argv)
    if args.command == "calibration":
        write_calibration(args.data)
        print(f"wrote {CALIBRATION}")
        return 0
    if args.check:
        with tempfile.TemporaryDirectory(prefix="vidstyle_int8_check_") as tmp:
            made = make(Path(tmp))
        shipped = json.loads((WEIGHTS / MANIFEST).read_text())
        same = made["files"] == shipped["files"]
        print("identical" if same else f"different: made {made['files']}, shipped {shipped['files']}")
        return 0 if same else 1
    manifest = make(WEIGHTS)
    update_sums(WEIGHTS, [ENCODER_INT8, DECODER_INT8, MANIFEST])
    print(json.dumps(manifest["files"], indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
