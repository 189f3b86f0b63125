"""vidstyle: restyle images and whole videos after any painting (AdaIN, Huang & Belongie 2017).

The public API; the ``vidstyle`` command is a thin layer over these::

    from vidstyle import stylize_video, stylize_image
    stylize_video("clip.mp4", "clip_styled.mp4", styles=["starry_night.jpg"], alpha=0.8)
"""
from __future__ import annotations

from .errors import InputError, OutputError, RenderError, SettingsError, VidstyleError, WeightsError
from .render import RenderResult, stylize_video
from .stats import StyleStats
from .still import ImageResult, stylize_image
from .stylize import Look, Stylizer
from .timeline import StyleSchedule, Timeline, load_timeline

__all__ = [
    "stylize_video", "stylize_image", "Stylizer", "Look", "StyleStats", "RenderResult", "ImageResult",
    "Timeline", "StyleSchedule", "load_timeline",
    "VidstyleError", "InputError", "SettingsError", "OutputError", "WeightsError", "RenderError",
]
__version__ = "0.1.0"
