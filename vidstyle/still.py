"""Stylize still images: the library behind ``vidstyle image``."""
from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import torch

from .errors import SettingsError
from .imageio import Image, read_image, resize, write_image
from .outputs import check_destination
from .stylize import DEFAULT_SIZE, Stylizer, check_alpha, check_weights, load_masks


@dataclass(frozen=True)
class ImageResult:
    output: Path
    size: tuple[int, int]
    working_size: int


def fit_masks(masks: torch.Tensor, size: tuple[int, int], names: Sequence[str]) -> torch.Tensor:
    """Masks at the content's size: same aspect ratio required, resolution may differ.

    Shape:
        ``(1, K, h, w)`` -> ``(1, K, H, W)``.
    """
    mh, mw = masks.shape[-2:]
    h, w = size
    if abs(mh / mw - h / w) > 0.01 * (h / w):
        raise SettingsError(f"mask {names[0]} is {mw}x{mh} but the content is {w}x{h}: masks need the content's shape")
    return resize(masks, size).clamp(0, 1)


def stylize_image(
    content: str | Path,
    output: str | Path,
    styles: Sequence[str | Path],
    *,
    weights: Sequence[float] | None = None,
    alpha: float = 1.0,
    preserve_color: bool | str = False,
    masks: Sequence[str | Path] | None = None,
    size: int = DEFAULT_SIZE,
    device: str = "auto",
    overwrite: bool = True,
    stylizer: Stylizer | None = None,
) -> ImageResult:
    """Stylize ``content`` after ``styles`` and write ``output`` (at the content's size, atomically).

    Alpha channels are kept where the output format holds them; 16-bit PNG
    inputs give 16-bit PNG outputs.
    """
    alpha = check_alpha(alpha)
    if weights is not None:
        check_weights(weights, len(styles))
    content, output = Path(content), Path(output)
    inputs = (content, *map(Path, styles), *map(Path, masks or ()))
    # Fail on the destination before spending minutes on the model.
    check_destination(output, overwrite=overwrite, inputs=inputs)
    image = read_image(content)
    stylizer = stylizer or Stylizer(device=device, size=size)
    mask_t = None
    if masks:
        mask_t = fit_masks(load_masks(masks), image.size, [str(m) for m in masks])
    look = stylizer.look(styles, weights, alpha, preserve_color, mask_t, color_reference=image.rgb)
    out = stylizer.stylize(image.rgb, look)
    write_image(output, Image(out, image.alpha, image.bits), overwrite=overwrite, inputs=inputs)
    return ImageResult(output, image.size, stylizer.size)
