"""`vidstyle image` and `vidstyle style`."""
from __future__ import annotations

from pathlib import Path

import click

from . import handle_errors, parse_weights, stderr

size_option = click.option("--size", type=int, default=512, show_default=True, help="Maximum side the network works at (output keeps the input's size).")
device_option = click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True)


def style_options(fn=None, *, required: bool = True, style_help: str = "Style image or saved .style file; repeat to mix styles."):
    """The controls shared by `image` and `run` (``@style_options`` or ``@style_options(required=False)``)."""
    if fn is None:
        return lambda f: style_options(f, required=required, style_help=style_help)
    for opt in reversed([
        click.option("--style", "styles", multiple=True, required=required, type=click.Path(path_type=Path), help=style_help),
        click.option("--style-weights", help="Weights of the styles, summing to 1, e.g. 0.7,0.3."),
        click.option("--alpha", type=float, default=1.0, show_default=True, help="Content/style trade-off: 0 keeps the content, 1 full style."),
        click.option("--preserve-color", "preserve_color", flag_value="output", default=None, help="Keep the content's colours (matched on the result)."),
        click.option("--preserve-color-mode", "preserve_color", type=click.Choice(["output", "style"]), help="Keep the content's colours, matching either the result (output) or the style image (style)."),
        click.option("--mask", "masks", multiple=True, type=click.Path(path_type=Path), help="Greyscale mask per style (region where that style applies); repeatable. For a video, a mask video with one frame per input frame works too."),
    ]):
        fn = opt(fn)
    return fn


@click.command()
@click.argument("content", type=click.Path(path_type=Path))
@style_options
@size_option
@device_option
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="Output image (.png, .jpg, .webp, .tif).")
@click.option("-y", "--overwrite", is_flag=True, help="Replace the output if it exists.")
@handle_errors
def image(content, styles, style_weights, alpha, preserve_color, masks, size, device, output, overwrite) -> None:
    """Stylize one still image."""
    from ..still import stylize_image

    result = stylize_image(
        content, output, styles, weights=parse_weights(style_weights), alpha=alpha,
        preserve_color=preserve_color or False, masks=list(masks), size=size, device=device, overwrite=overwrite,
    )
    stderr.print(f"wrote {result.output} ({result.size[1]}x{result.size[0]})")


@click.command()
@click.argument("image_path", metavar="IMAGE", type=click.Path(path_type=Path))
@click.option("-o", "--output", type=click.Path(path_type=Path), required=True, help="The .style file to write.")
@click.option("-y", "--overwrite", is_flag=True, help="Replace the output if it exists.")
@device_option
@handle_errors
def style(image_path, output, overwrite, device) -> None:
    """Save a style image's statistics to a .style file (usable wherever a style image is)."""
    from ..stylize import Stylizer, save_style

    stylizer = Stylizer(device=device, decoder=False)
    save_style(stylizer.load_style(image_path), output, overwrite=overwrite, inputs=(image_path,))
    stderr.print(f"wrote {output}")
