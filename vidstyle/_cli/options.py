"""Options shared by the commands, named as the library's settings and defaulting to their defaults.

Each option's ``dest`` is the name of the setting it sets (``--style-weights``
sets ``weights``), which is how an error about a setting finds its flag.
"""
from __future__ import annotations

from pathlib import Path

import click

from ..color import METHODS as COLOR_METHODS
from ..settings import (
    BACKENDS, DEVICES, QUALITIES, TRANSFERS, EncodeSettings, ModelSettings, SequenceSettings, SteadySettings, StyleSettings,
)

_MODEL = ModelSettings()
_ENCODE = EncodeSettings()


def _weights(ctx: click.Context, param: click.Parameter, text: str | None) -> tuple[float, ...] | None:
    if text is None:
        return None
    try:
        return tuple(float(x) for x in text.split(","))
    except ValueError:
        raise click.BadParameter(f"{text!r} is not a comma-separated list of numbers, e.g. 0.7,0.3") from None


def _stack(*options):
    def decorate(fn):
        for option in reversed(options):
            fn = option(fn)
        return fn

    return decorate


def style_options(*, required: bool = True,
                  style_help: str = "Style image or saved .style file; repeat to mix styles."):
    """What to render: the controls of :class:`~vidstyle.settings.StyleSettings`."""
    return _stack(
        click.option("--style", "styles", multiple=True, required=required, type=click.Path(path_type=Path),
                     help=style_help),
        click.option("--style-weights", "weights", callback=_weights,
                     help="Weights of the styles, summing to 1, e.g. 0.7,0.3."),
        click.option("--alpha", type=float, default=StyleSettings.alpha, show_default=True,
                     help="Content/style trade-off on the features: 1 full style, lower keeps more of the content's "
                          "structure (the decoder redraws the picture even at 0: see README)."),
        click.option("--preserve-color", "preserve_color", flag_value="output", default=None,
                     help="Keep the content's colours (matched on the result)."),
        click.option("--preserve-color-mode", "preserve_color", type=click.Choice(["output", "style"]),
                     help="Keep the content's colours, matching either the result (output) or the style image to "
                          "the content (style; for a video, to its first frame)."),
        click.option("--mask", "masks", multiple=True, type=click.Path(path_type=Path),
                     help="Greyscale mask per style (region where that style applies); repeatable. For a video, a "
                          "mask video with one frame per input frame works too."),
        click.option("--color-method", type=click.Choice(COLOR_METHODS), default=None,
                     help="How colours are preserved: luminance (the result's lightness with the content's colour, "
                          "pixel by pixel: the default for video, adds no flicker) or histogram (histogram matching: "
                          "the default for images)."),
    )


def model_options(*, size: bool = True, batch: bool = True):
    """How to run the model: :class:`~vidstyle.settings.ModelSettings`."""
    options = [
        click.option("--device", type=click.Choice(DEVICES), default=_MODEL.device, show_default=True,
                     help="Where the model runs: auto picks a CUDA GPU when there is one."),
    ]
    frames = [
        click.option("--backend", type=click.Choice(BACKENDS), default=_MODEL.backend, show_default=True,
                     help="How the networks run: torch (float32, the reference), bf16 (torch bfloat16: fast on CPUs "
                          "with AMX), onnx (int8 on ONNX Runtime, CPU), auto (the fastest this machine has)."),
        click.option("--quality", type=click.Choice(QUALITIES), default=_MODEL.quality, show_default=True,
                     help="draft: the network at 3/8 of --size, the result sharpened back to full size along the "
                          "frame's edges (about 4-6x faster: previews, slow machines)."),
    ]
    if size:
        # --size, --backend and --quality are how frames go through the networks.
        options = [click.option("--size", type=int, default=_MODEL.size, show_default=True,
                                help="Longest side the network works at (the output keeps the input's size)."),
                   *options, *frames]
    if batch:
        options.append(click.option("--batch", type=int, help="Frames per model call (default: 2 on a CPU, up to 16 "
                                                             "on a GPU); lower it if the GPU runs out of memory."))
    return _stack(*options)


def encode_options():
    """How to encode: :class:`~vidstyle.settings.EncodeSettings`."""
    return _stack(
        click.option("--codec", default=_ENCODE.codec, show_default=True,
                     help="libx264, libx265, libvpx-vp9, libsvtav1/libaom-av1, prores_ks."),
        click.option("--crf", type=int, default=_ENCODE.crf, show_default=True,
                     help="Constant quality: lower is better and bigger."),
        click.option("--preset", default=_ENCODE.preset,
                     help="Encoder speed preset (x264 names) [default: medium beside a GPU, veryfast with x264's "
                          "lightest motion search when the CPU runs the model: the encoder then leaves it the "
                          "cores; ultrafast there for frames of 4x the working size's pixels or more (720p and up "
                          "at --size 512, full quality), with files about twice as large]."),
        click.option("--pix-fmt", help="Encoder pixel format (default: yuv420p; yuv444p for odd sizes)."),
    )


def span_options():
    """Which part of the input: :class:`~vidstyle.settings.Span`."""
    return _stack(
        click.option("--start", help="Start time: seconds, HH:MM:SS.sss or HH:MM:SS:FF."),
        click.option("--end", help="End time (exclusive), same forms as --start."),
        click.option("--frames", help="Frame range A:B (half-open), instead of --start/--end."),
    )


def sequence_options():
    """How image sequences are read and written: :class:`~vidstyle.settings.SequenceSettings`."""
    return _stack(
        click.option("--fps", help="Frame rate of an image sequence input (24, 25, 24000/1001); default 24."),
        click.option("--transfer", type=click.Choice(TRANSFERS), default=SequenceSettings.transfer, show_default=True,
                     help="What image-sequence pixels are: auto (EXR scene-linear, DPX/PNG/TIFF display-referred), "
                          "linear (all scene-linear), display (none: e.g. an EXR already display-referred). "
                          "Scene-linear frames go through the sRGB curve to the network and back."),
    )


def steady_options():
    """Temporal consistency of a video: :class:`~vidstyle.settings.SteadySettings`."""
    return _stack(
        click.option("--steady/--no-steady", "steady", default=SteadySettings.enabled, show_default=True,
                     help="Keep texture steady from frame to frame (the picture held at the network's grid phase, "
                          "blends along the source's optical flow, afresh at every cut); --no-steady stylizes every "
                          "frame on its own."),
        click.option("--steady-strength", type=float, default=SteadySettings.strength, show_default=True,
                     help="How much of the previous frame is kept, 0-1: 1 the steadiest; lower lets more flicker "
                          "through."),
        click.option("--steady-carry/--no-steady-carry", "steady_carry", default=SteadySettings.carry,
                     show_default=True,
                     help="Experimental: also copy the previous frame along the camera (a pan and zoom fitted to "
                          "the flow) where that explains the picture, on frames where it does not zoom. Steadier "
                          "on a fixed camera, but its cost to the picture grows with the length of the shot (most with a moving camera), and its "
                          "memory starts again, visibly, every 240 frames."),
    )


def output_options(help: str):
    return _stack(
        click.option("-o", "--output", type=click.Path(path_type=Path), help=help),
        click.option("-y", "--overwrite", is_flag=True, help="Replace the output if it exists."),
    )


shots_cache_option = click.option(
    "--shots-cache", type=click.Path(path_type=Path), metavar="DIR",
    help="Folder for cached shot lists (default: ~/.cache/vidstyle/shots, or under $XDG_CACHE_HOME).",
)


edit_option = click.option(
    "--edit", type=click.Path(path_type=Path), metavar="EDIT",
    help="The editor's cut of INPUT (.otio, .edl, .xml): its cut points are the shots, instead of detection; "
         "without --style or --timeline, its style markers (style=a.jpg) are the keyframes.",
)
