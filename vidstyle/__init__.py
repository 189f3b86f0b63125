"""vidstyle: restyle images and whole videos after any painting (AdaIN, Huang & Belongie 2017).

The public API; the ``vidstyle`` command is a thin layer over these::

    from vidstyle import StyleSettings, stylize_video, stylize_image
    stylize_video("clip.mp4", "clip_styled.mp4", StyleSettings(styles=["starry_night.jpg"], alpha=0.8))

What to render, how to run the model, how to encode and which part of the
input are four frozen settings values (:mod:`vidstyle.settings`), the same for
the CLI, the farm and Python callers.

Names are resolved lazily: ``import vidstyle`` (or ``vidstyle.model``) pulls in
neither PyAV nor kornia, so the trainer and the GPU job run on a machine that
has only torch, numpy, pillow and safetensors.
"""
from __future__ import annotations

from importlib import import_module
from typing import TYPE_CHECKING, Any

from .errors import (
    InputError, OutOfMemoryError, OutputError, RenderError, SettingsError, VidstyleError, WeightsError,
)

_LAZY = {
    "stylize_video": "render", "RenderResult": "render",
    "StyleStats": "stats",
    "stylize_image": "still", "ImageResult": "still",
    "Look": "look",
    "Stylizer": "stylize", "write_style": "stylize",
    "StyleSettings": "settings", "ModelSettings": "settings", "EncodeSettings": "settings", "Span": "settings",
    "SequenceSettings": "settings", "SteadySettings": "settings",
    "read_edit": "editorial", "write_shot_list": "editorial",
    "Timeline": "timeline", "StyleSchedule": "timeline", "load_timeline": "timeline",
}

if TYPE_CHECKING:  # for type checkers and IDEs only
    from .look import Look
    from .render import RenderResult, stylize_video
    from .editorial import read_edit, write_shot_list
    from .settings import EncodeSettings, ModelSettings, SequenceSettings, Span, SteadySettings, StyleSettings
    from .stats import StyleStats
    from .still import ImageResult, stylize_image
    from .stylize import Stylizer, write_style
    from .timeline import StyleSchedule, Timeline, load_timeline


def __getattr__(name: str) -> Any:
    module = _LAZY.get(name)
    if module is None:
        raise AttributeError(f"module 'vidstyle' has no attribute {name!r}")
    value = getattr(import_module(f".{module}", __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_LAZY))


__all__ = [
    "stylize_video", "stylize_image", "write_style", "Stylizer", "Look", "StyleStats", "RenderResult", "ImageResult",
    "StyleSettings", "ModelSettings", "EncodeSettings", "Span", "SequenceSettings", "SteadySettings",
    "read_edit", "write_shot_list",
    "Timeline", "StyleSchedule", "load_timeline",
    "VidstyleError", "InputError", "SettingsError", "OutputError", "WeightsError", "RenderError", "OutOfMemoryError",
]
__version__ = "0.1.0"
