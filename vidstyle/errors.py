"""The one exception family of vidstyle.

Every error a user can cause is a :class:`VidstyleError` whose message says what
went wrong and what to do about it, in the library's own words (settings and
keyword arguments, never command-line flags). ``settings`` names the settings
the fix is about (``"size"``, ``"batch"``, ``"overwrite"``...): the CLI adds
the flags that set them. It prints the message on one line and exits with the
class's ``exit_code``; the library never prints or exits.
"""
from __future__ import annotations


class VidstyleError(Exception):
    """Base class: a problem the user can act on.

    Args:
        message: what went wrong and what to do.
        settings: the settings (API keyword names) to change to fix it.
    """

    exit_code = 1

    def __init__(self, message: str = "", *, settings: tuple[str, ...] | str = ()) -> None:
        super().__init__(message)
        self.settings: tuple[str, ...] = (settings,) if isinstance(settings, str) else tuple(settings)


class InputError(VidstyleError):
    """An input file (image, video, style, mask, timeline) is missing or unreadable."""

    exit_code = 2


class SettingsError(VidstyleError):
    """An option or a combination of options is invalid."""

    exit_code = 2


class OutputError(VidstyleError):
    """The destination cannot be written, or exists and overwriting was not allowed."""

    exit_code = 3


class WeightsError(VidstyleError):
    """A weight file is missing, damaged, or not trained yet."""

    exit_code = 4


class RenderError(VidstyleError):
    """Rendering failed part-way (a frame did not decode, the encoder failed)."""

    exit_code = 5


class OutOfMemoryError(VidstyleError):
    """The model ran out of memory (GPU or CPU): a smaller batch or working size fits."""

    exit_code = 6
