"""Stylize still images: the library behind ``vidstyle image``."""
from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from .errors import SettingsError
from .imageio import Image, read_image, write_image
from .masks import MaskLoader
from .outputs import check_destination, default_output
from .settings import ModelSettings, StyleSettings
from .stylize import Stylizer

__all__ = ["ImageResult", "stylize_image", "default_image_output"]

# Colour preservation of a single picture: exact histogram matching (nothing can flicker).
STILL_COLOR_METHOD = "histogram"
# Extensions an output image keeps from its input; others become PNG.
_KEPT_EXTENSIONS = (".png", ".jpg", ".jpeg", ".webp", ".tif", ".tiff")


@dataclass(frozen=True)
class ImageResult:
    output: Path
    size: tuple[int, int]
    working_size: int
    warnings: list[str] = field(default_factory=list)


def default_image_output(content: str | os.PathLike[str]) -> Path:
    """``<name>_styled`` beside the content, in its format when it can be written, else PNG.

    >>> default_image_output("photos/cat.jpg"), default_image_output("scan.bmp")
    (PosixPath('photos/cat_styled.jpg'), PosixPath('scan_styled.png'))
    """
    ext = Path(content).suffix.lower()
    return default_output(content, ext if ext in _KEPT_EXTENSIONS else ".png")


def stylize_image(
    content: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    style: StyleSettings | None = None,
    *,
    model: ModelSettings = ModelSettings(),
    overwrite: bool = False,
    stylizer: Stylizer | None = None,
) -> ImageResult:
    """Stylize ``content`` and write ``output`` (default: ``<name>_styled`` beside it) at its size, atomically.

    ``style`` takes no timeline (a still has no time); its masks must be
    images of the picture's shape (another resolution is resized, with a
    warning in the result). Alpha channels are kept where the output format
    holds them; 16-bit PNG inputs give 16-bit PNG outputs.
    """
    if style is None:
        style = StyleSettings()  # raises: what to render is the one thing without a default
    if style.timeline is not None:
        raise SettingsError("a still image takes styles, not a timeline", settings="timeline")
    content = Path(content)
    output = Path(output) if output is not None else default_image_output(content)
    inputs = (content, *map(Path, style.styles), *map(Path, style.masks))
    # Fail on the destination before spending minutes on the model.
    check_destination(output, overwrite=overwrite, inputs=inputs)
    image = read_image(content)
    masks = MaskLoader(image.size)
    mask_set = masks.load(style.masks) if style.masks else None
    stylizer = stylizer or Stylizer.from_settings(model)
    look = stylizer.look(
        list(style.styles), style.weights, style.alpha, style.preserve_color,
        None if mask_set is None else mask_set.stills, color_reference=image.rgb,
        color_method=style.color_method or STILL_COLOR_METHOD,
    )
    out = stylizer.stylize(image.rgb, look)
    write_image(output, Image(out, image.alpha, image.bits), overwrite=overwrite, inputs=inputs)
    return ImageResult(output, image.size, stylizer.size, [*stylizer.warnings, *masks.warnings])
