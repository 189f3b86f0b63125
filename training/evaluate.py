"""Evaluate decoders on the fixed validation pairs: losses, structure, style reached, a contact sheet.

    python training/evaluate.py                                   # the shipped weights/decoder.safetensors
    python training/evaluate.py --decoder runs/x/decoder.safetensors --shipped --size 256 --size 512 --sheet s.png
    python training/evaluate.py --untrained                       # a randomly initialised decoder, for scale

Each pair is resized to --size on its shorter side and centre-cropped square,
then stylized at alpha 1. One JSON line per decoder and size, with the means over the pairs of:

- ``content_loss``, ``style_loss``: the training objective's (objective.py). The
  content loss compares against the AdaIN target, not against what a viewer sees.
- ``structure``: mean squared difference of the per-channel instance-normalised
  relu4_1 features of the result and of the content image (0: the same
  structure). Instance normalisation removes exactly what AdaIN is meant to
  change (channel means and spreads), so what is left is layout: edges,
  objects, people.
- ``style_fraction``: style loss of the result / style loss of the unstylized
  content image against the same style: 1 = no move towards the style, 0 = the
  style's statistics reached.
- ``reconstruction_psnr``: alpha 0, PSNR in dB of ``decode(encode(content))``
  (clamped to [0, 1]) against the content, averaged over the distinct content
  photos of the pairs: whether the decoder gives the picture back.
- ``phase_error`` (with ``--phase``): :func:`vidstyle.metrics.phase_error` of
  the pair's stylization: the content moved by 10 whole-pixel shifts,
  stylized, moved back, against the result where it is (mean abs, RGB in
  [0, 1], 16 px of every edge left out). How much the decoder's strokes
  depend on where the picture sits on the network's 8-pixel grid: the flicker
  of a panning camera before any steadying (``training/train.py
  --shift-weight`` trains against it). Ten more passes per pair and decoder.

Each pair is encoded once and its features are shared by every decoder
evaluated with it (``pair_features``): per decoder and pair that leaves the
decoder at alpha 1 and 0 and one or two encoder passes of the result.

The sheet shows content | style | one result per decoder for the first 8 pairs,
at the last --size; ``--sheet-layout decoders`` turns it: a row of contents, a
row of styles, then a row per decoder (experiments with many decoders).
"""
from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import NamedTuple

import torch
from torch.nn import functional as F

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(Path(__file__).resolve().parent))
from objective import channel_stats as objective_stats, style_loss  # noqa: E402
from vidstyle.metrics import PHASE_SHIFTS, at_shift, instance_normalised, shifted_difference, structure_score  # noqa: E402
from vidstyle.imageio import Image, read_image, resize, resize_short, write_image  # noqa: E402
from vidstyle.model import TAPS, Decoder, Encoder, load_decoder, load_encoder  # noqa: E402
from vidstyle.stats import adain, channel_stats  # noqa: E402

SHEET_ROWS = 8


def square(path: Path, size: int) -> torch.Tensor:
    x = resize_short(read_image(path).rgb, size)
    h, w = x.shape[-2:]
    y0, x0 = (h - size) // 2, (w - size) // 2
    return x[..., y0 : y0 + size, x0 : x0 + size]


def contact_sheet(rows: list[tuple[torch.Tensor, ...]], tile: int) -> torch.Tensor:
    """Tile rows of images into one ``(1, 3, rows*tile, cols*tile)`` picture."""
    lines = [torch.cat([resize(t.clamp(0, 1).float().cpu(), (tile, tile)) for t in row], dim=-1) for row in rows]
    return torch.cat(lines, dim=-2)


class PairFeatures(NamedTuple):
    """What a validation pair gives every decoder alike: computed once per pair, not once per decoder."""
    content: torch.Tensor                                # relu4_1 of the content image
    style_stats: list[tuple[torch.Tensor, torch.Tensor]]  # the style's (mean, std) at the TAPS
    target: torch.Tensor                                 # the AdaIN target, float32
    content_normalised: torch.Tensor                     # instance-normalised relu4_1 of the content
    style_before: float                                  # style loss of the unstylized content


@torch.no_grad()
def pair_features(encoder: Encoder, c: torch.Tensor, s: torch.Tensor) -> PairFeatures:
    """One encoder pass over content and style, ``(1, 3, H, W)`` each, as in the training objective."""
    feats = encoder(torch.cat([c, s]), TAPS)
    c_feats = [f[:1] for f in feats]
    s_stats = [objective_stats(f[1:]) for f in feats]
    return PairFeatures(c_feats[-1], s_stats, adain(c_feats[-1].float(), *s_stats[-1]),
                        instance_normalised(c_feats[-1]), float(style_loss(c_feats, s_stats)))


@torch.no_grad()
def pair_metrics(encoder: Encoder, decoder: Decoder, c: torch.Tensor, s: torch.Tensor,
                 pf: PairFeatures | None = None) -> tuple[dict[str, float], torch.Tensor]:
    """The four numbers of the module docstring for one pair, and the result ``(1, 3, H, W)``.

    The content and style losses are the training objective's (``objective.adain_losses``), written out
    here so that the pair's own features (``pf``) are shared by every decoder evaluated on it.
    """
    pf = pf or pair_features(encoder, c, s)
    out = decoder(pf.target.to(pf.content.dtype))
    g_feats = encoder(out, TAPS)
    style = float(style_loss(g_feats, pf.style_stats))
    # The structure is measured on what is shown, the clamped picture; the losses on the raw output.
    clamped = out.clamp(0, 1)
    g4 = g_feats[-1] if torch.equal(clamped, out) else encoder.encode(clamped)
    metrics = {
        "content_loss": float(F.mse_loss(g_feats[-1].float(), pf.target)),
        "style_loss": style,
        "structure": float(F.mse_loss(instance_normalised(g4), pf.content_normalised)),
        "style_fraction": style / max(pf.style_before, 1e-12),
    }
    return metrics, out


@torch.no_grad()
def pair_phase_error(encoder: Encoder, decoder: Decoder, c: torch.Tensor, pf: PairFeatures, out: torch.Tensor) -> float:
    """:func:`vidstyle.metrics.phase_error` of stylizing ``c`` ``(1, 3, H, W)`` with the pair's style, at alpha 1.

    ``out`` is :func:`pair_metrics`' result for the pair, the picture where it is: ten more passes, not eleven.
    """
    def stylize(x: torch.Tensor) -> torch.Tensor:
        return decoder(adain(encoder.encode(x).float(), *pf.style_stats[-1]).to(pf.content.dtype)).float().clamp(0, 1)

    return shifted_difference(out.float().clamp(0, 1), [at_shift(stylize, c, s) for s in PHASE_SHIFTS])


@torch.no_grad()
def reconstruction_psnr(encoder: Encoder, decoder: Decoder, c: torch.Tensor, feat: torch.Tensor | None = None) -> float:
    """PSNR in dB of ``decode(encode(c))`` against ``c``, ``(1, 3, H, W)`` in [0, 1]: the alpha-0 result.

    ``feat``: ``encode(c)`` when the caller has it already.
    """
    mse = F.mse_loss(decoder(encoder.encode(c) if feat is None else feat).clamp(0, 1), c)
    return float(10 * torch.log10(1 / mse.clamp_min(1e-10)))


@torch.no_grad()
def evaluate(data: Path, decoders: dict[str, Decoder], sizes: tuple[int, ...] = (256,), sheet: Path | None = None,
             tile: int = 192, device: str | torch.device = "cpu", sheet_layout: str = "pairs",
             sheet_pairs: int = SHEET_ROWS, limit_pairs: int | None = None, phase: bool = False) -> list[dict]:
    """One result dict per decoder and size (means over the pairs of ``data/val_pairs.json``, or its first ``limit_pairs``).

    ``phase``: also each decoder's ``phase_error`` (ten more passes per pair).
    """
    pairs = json.loads((data / "val_pairs.json").read_text())[:limit_pairs]
    encoder = load_encoder().to(device)
    decoders = {name: d.to(device).eval() for name, d in decoders.items()}
    results = []
    for size in sizes:
        sums = {name: {} for name in decoders}
        psnr = {name: {} for name in decoders}
        rows = []
        for pair in pairs:
            c = square(data / pair["content"], size).to(device)
            s = square(data / pair["style"], size).to(device)
            row = [c, s]
            pf = pair_features(encoder, c, s)
            for name, decoder in decoders.items():
                metrics, out = pair_metrics(encoder, decoder, c, s, pf)
                if phase:
                    metrics["phase_error"] = pair_phase_error(encoder, decoder, c, pf, out)
                for k, v in metrics.items():
                    sums[name][k] = sums[name].get(k, 0.0) + v
                if pair["content"] not in psnr[name]:
                    psnr[name][pair["content"]] = reconstruction_psnr(encoder, decoder, c, pf.content)
                row.append(out)
            if len(rows) < sheet_pairs:
                rows.append(tuple(row))
        n = len(pairs)
        for name in decoders:
            results.append({"decoder": name, "size": size, "pairs": n, **{k: round(v / n, 5) for k, v in sums[name].items()},
                            "reconstruction_psnr": round(sum(psnr[name].values()) / len(psnr[name]), 3)})
        if sheet is not None and size == sizes[-1]:
            if sheet_layout == "decoders":
                rows = list(zip(*rows))
            write_image(sheet, Image(contact_sheet(rows, tile)), overwrite=True)
    return results


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description="validation losses, structure and contact sheet of decoders")
    ap.add_argument("--data", type=Path, default=ROOT / "training" / "data")
    ap.add_argument("--decoder", type=Path, action="append", default=[], help="decoder file (repeatable; default: the shipped one)")
    ap.add_argument("--shipped", action="store_true", help="also evaluate the shipped decoder (first)")
    ap.add_argument("--untrained", action="store_true", help="also evaluate a random decoder (seed 0), for scale")
    ap.add_argument("--size", type=int, action="append", default=[], help="working size (repeatable; default 256)")
    ap.add_argument("--sheet", type=Path, default=None, help="write the contact sheet PNG here")
    ap.add_argument("--sheet-layout", choices=("pairs", "decoders"), default="pairs",
                    help="pairs: a row per pair (content | style | decoders...); decoders: a row per decoder")
    ap.add_argument("--sheet-pairs", type=int, default=SHEET_ROWS, help="how many pairs the sheet shows")
    ap.add_argument("--tile", type=int, default=192, help="sheet tile size in pixels")
    ap.add_argument("--limit-pairs", type=int, default=None, help="only the first N pairs (a quick sheet; not for the numbers)")
    ap.add_argument("--phase", action="store_true", help="also the phase error (ten more passes per pair and decoder)")
    ap.add_argument("--device", default="cpu")
    args = ap.parse_args(argv)
    decoders: dict[str, Decoder] = {}
    if args.shipped or not (args.decoder or args.untrained):
        decoders["shipped"] = load_decoder()
    for path in args.decoder:
        decoders[str(path)] = load_decoder(path=path)
    if args.untrained:
        torch.manual_seed(0)
        decoders["untrained"] = Decoder()
    for result in evaluate(args.data, decoders, tuple(args.size or [256]), args.sheet, args.tile, args.device,
                           args.sheet_layout, args.sheet_pairs, args.limit_pairs, args.phase):
        print(json.dumps(result))
    return 0


if __name__ == "__main__":
    sys.exit(main())
