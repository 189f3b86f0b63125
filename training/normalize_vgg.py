"""Compute the per-channel scales that turn raw VGG-19 into the "normalised" VGG.

Gatys et al. rescale every filter so that its mean activation over a set of
images and positions is 1, compensating in the next layer. Through ReLUs and
max-pooling that is an exact re-parametrisation: the normalised network's
activation at any layer is the raw activation divided by the raw mean. So we
only need the mean activation of each channel at the tapped layers (relu1_1,
relu2_1, relu3_1, relu4_1); vidstyle.model.Encoder divides by them.

The fixed image set: every 4th image (sorted by name) of the prepared training
set's content/ and style/ folders (training/build_dataset.py), each resized to
256 px on its shorter side, so that both photographs and art set the scale.

A channel that is nearly silent on that set (relu2_1 has one whose mean is
1e-4) would get a scale in the thousands and, firing on some flat-coloured
wallpaper, dominate the style loss by five orders of magnitude. So the mean is
floored at a tenth of its layer's median channel mean: such channels are
weighted like an ordinary channel instead.

    python training/normalize_vgg.py training/data
"""
from __future__ import annotations

import argparse
import hashlib
import sys
from pathlib import Path

import torch
from safetensors.torch import save_file

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from vidstyle.imageio import read_image, resize_short  # noqa: E402
from vidstyle.model import NORM_FILE, TAPS, load_encoder, weights_dir  # noqa: E402

EVERY = 4
SHORT_SIDE = 256
FLOOR_OF_MEDIAN = 0.1


def image_set(data: Path) -> list[Path]:
    files = []
    for role in ("content", "style"):
        files += sorted((data / role).glob("*.jpg"))[::EVERY]
    return files


@torch.no_grad()
def mean_activations(paths: list[Path]) -> dict[str, torch.Tensor]:
    enc = load_encoder(normalised=False)
    sums = {t: torch.zeros(1) for t in TAPS}
    for p in paths:
        img = resize_short(read_image(p).rgb, SHORT_SIDE)
        for tap, feat in zip(TAPS, enc(img, TAPS)):
            sums[tap] = sums[tap] + feat.mean(dim=(0, 2, 3))
    return {t: s / len(paths) for t, s in sums.items()}


def scales_from_means(means: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {t: (1.0 / m.clamp_min(FLOOR_OF_MEDIAN * m.median())).float().contiguous() for t, m in means.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description="normalised-VGG scales from a fixed image set")
    parser.add_argument("data", type=Path, help="the prepared training set (training/data)")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args()
    paths = image_set(args.data)
    listing = hashlib.sha256("\n".join(hashlib.sha256(p.read_bytes()).hexdigest() for p in paths).encode()).hexdigest()
    means = mean_activations(paths)
    for t, m in means.items():
        print(f"{t}: channel mean activation median {m.median():.3f} min {m.min():.4f} max {m.max():.3f}")
    out = args.out or weights_dir() / NORM_FILE
    meta = {"images": f"every {EVERY}th of sorted training/data/content/*.jpg and style/*.jpg: {len(paths)} images",
            "images_sha256": listing, "resize": f"shorter side {SHORT_SIDE}",
            "floor": f"{FLOOR_OF_MEDIAN} x layer median"}
    save_file(scales_from_means(means), str(out), metadata=meta)
    print(f"{len(paths)} images, listing sha256 {listing}")
    print(f"{hashlib.sha256(out.read_bytes()).hexdigest()}  {out.name}")


if __name__ == "__main__":
    main()
