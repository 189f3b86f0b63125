"""`vidstyle image` and `vidstyle style`."""
from __future__ import annotations

from pathlib import Path

import click

from ..settings import ModelSettings, StyleSettings
from . import handle_errors, stderr, warn
from .options import model_options, output_options, style_options


@click.command()
@click.argument("content", type=click.Path(path_type=Path))
@style_options()
@model_options(batch=False)
@output_options("Output image (.png, .jpg, .webp, .tif; default: CONTENT_styled beside it).")
@handle_errors
def image(content, styles, weights, alpha, preserve_color, masks, color_method, size, device, backend, quality,
          output, overwrite) -> None:
    """Stylize one still image."""
    from ..still import stylize_image

    style = StyleSettings(styles, weights, alpha, preserve_color or False, masks, color_method)
    result = stylize_image(content, output, style, model=ModelSettings(size, device, backend=backend, quality=quality), overwrite=overwrite)
    for warning in result.warnings:
        warn(warning)
    stderr.print(f"wrote {result.output} ({result.size[1]}x{result.size[0]})")


@click.command()
@click.argument("image_path", metavar="IMAGE", type=click.Path(path_type=Path))
@output_options("The .style file to write (default: IMAGE's name with .style, beside it).")
@model_options(size=False, batch=False)
@handle_errors
def style(image_path, output, overwrite, device) -> None:
    """Save a style image's statistics to a .style file (usable wherever a style image is)."""
    from ..stylize import write_style

    stderr.print(f"wrote {write_style(image_path, output, device=device, overwrite=overwrite)}")
