"""The one exception family of vidstyle.

Every error a user can cause is a :class:`VidstyleError` whose message says what
went wrong and what to do about it. The CLI prints the message on one line and
exits with the class's ``exit_code``; the library never prints or exits.
"""
from __future__ import annotations


class VidstyleError(Exception):
    """Base class: a problem the user can act on."""

    exit_code = 1


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
