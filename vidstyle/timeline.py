"""Style over time: parse and validate a timeline, then say what every frame needs.

Three steps, each a plain value:

1. :func:`load_timeline` reads a TOML file into a :class:`Timeline` of
   :class:`Keyframe` s (keys, types and files checked; nothing about the video
   yet). :func:`timeline_from_styles` builds the same from the CLI shorthand
   ``--style a.jpg --style b.jpg@12s --transition 2s``.
2. :meth:`Timeline.resolve` places every keyframe on a video (frame rate, frame
   count, and a :class:`vidstyle.shots.ShotList` when keyframes name shots) and returns a
   :class:`ResolvedTimeline`: sorted keyframes with their time and frame, plus
   warnings (the library never prints them).
3. :meth:`StyleSchedule.build` turns that into one :class:`~vidstyle.look.Look`
   per keyframe, loading each distinct style file once;
   :meth:`StyleSchedule.look_at` is then a pure function of the frame: the
   same frame always gets the same look, so a chunk of a video renders
   exactly as it would in a whole run.

A render without a timeline is a timeline of one keyframe
(:func:`timeline_for`): every video takes the same path to the model.

How a change happens between keyframe A and the next keyframe B (B's ``curve``
and ``transition``):

- ``curve = "hold"``: A's look holds until B's time, then B's look (a cut).
- ``curve = "linear"`` or ``"smooth"`` (smoothstep ease in/out) without a
  ``transition``: the statistics move from A's at A's time to B's at B's time
  (classic keyframe interpolation: each keyframe's look is exact at its time).
- with ``transition = T`` seconds: the change takes T seconds *centred on B's
  time*, from ``tB - T/2`` to ``tB + T/2``, as the CLI shorthand
  ``b.jpg@12s --transition 2s`` (a cross-fade from 11 s to 13 s). ``T = 0`` is
  a cut at B's time. Transition windows of neighbouring keyframes must not
  overlap.

Style *statistics* are interpolated (mean and std at relu4_1), never output
frames; alpha and colour preservation are interpolated too. Masks cannot be
interpolated: a keyframe that changes the masks must be a cut. A mask may be
a still image or a mask video (one mask frame per input frame, see
:mod:`vidstyle.masks`).
"""
from __future__ import annotations

import bisect
import math
import re
import sys
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any


from .errors import InputError, SettingsError
from .look import Look, check_alpha, check_mask_count, check_weights
from .settings import StyleSettings
from .stats import StyleStats
from .video.ranges import parse_time
from .video.sequence import is_sequence_path

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - exercised on Python 3.10 only
    import tomli as tomllib

__all__ = [
    "CURVES",
    "Keyframe",
    "Timeline",
    "ResolvedKeyframe",
    "ResolvedTimeline",
    "StyleSchedule",
    "load_timeline",
    "timeline_for",
    "parse_timeline",
    "timeline_from_styles",
    "split_style_spec",
    "parse_duration",
    "ease",
]

CURVES = ("hold", "linear", "smooth")
DEFAULT_CURVE = "linear"
_TOP_KEYS = ("curve", "transition", "keyframe")
_KEYFRAME_KEYS = ("at", "frame", "shot", "style", "styles", "weights", "alpha", "preserve_color", "masks", "curve", "transition")
# Frame times are floats from timestamps; keyframe times from fractions: compare with a little slack.
_TIME_EPS = 1e-6


def ease(curve: str, u: float) -> float:
    """How far a change has gone at fraction ``u`` of its span, for each curve.

    >>> ease("linear", 0.25), ease("smooth", 0.5), ease("hold", 0.99)
    (0.25, 0.5, 0.0)
    """
    u = min(1.0, max(0.0, u))
    if curve == "hold":
        return 1.0 if u >= 1.0 else 0.0
    if curve == "smooth":
        return u * u * (3.0 - 2.0 * u)
    return u


# --------------------------------------------------------------------------- #
# Parsed, not yet placed on a video
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Keyframe:
    """One keyframe as written: where it is, and the look it sets.

    ``at`` is where: ``("time", seconds)``, ``("frame", index)`` or
    ``("shot", number, offset_seconds)`` (shots count from 1). ``curve`` and
    ``transition`` (seconds, None: the whole gap) say how the look arrives here
    from the previous keyframe. ``where`` names the keyframe in messages.
    """

    at: tuple
    styles: tuple[Path, ...]
    weights: tuple[float, ...]
    alpha: float = 1.0
    preserve_color: bool = False
    masks: tuple[Path, ...] = ()
    curve: str = DEFAULT_CURVE
    transition: float | None = None
    where: str = ""


@dataclass(frozen=True)
class Timeline:
    """A parsed and checked timeline file (or CLI shorthand), in file order."""

    keyframes: tuple[Keyframe, ...]
    source: str = ""

    @property
    def uses_shots(self) -> bool:
        return any(k.at[0] == "shot" for k in self.keyframes)

    @property
    def style_paths(self) -> tuple[Path, ...]:
        """Every distinct style file, in order of first use."""
        return tuple(dict.fromkeys(p for k in self.keyframes for p in k.styles))

    def resolve(
        self,
        fps: Fraction | float,
        frame_count: int,
        shots: Any = None,
    ) -> "ResolvedTimeline":
        """Place the keyframes on a video of ``frame_count`` frames at ``fps``.

        ``shots`` is a :class:`vidstyle.shots.ShotList`
        (anything with ``cuts``; ``cut_times`` are used when present).
        Frame-placed keyframes sit at ``frame / fps``, shot-placed ones at their
        shot's cut time (``start / fps`` without cut times). A keyframe after
        the last frame is clamped to it with a warning; two keyframes on one
        frame, a missing shot, or overlapping transitions are errors.

        Raises:
            SettingsError: with the file, the keyframe and the problem.
        """
        fps = Fraction(fps)
        if fps <= 0 or frame_count < 1:
            raise SettingsError(f"cannot place a timeline on a video of {frame_count} frames at {float(fps):g} fps")
        if self.uses_shots and shots is None:
            first = next(k for k in self.keyframes if k.at[0] == "shot")
            raise SettingsError(
                f"{first.where}: keyframes placed by shot need the video's shot list "
                "(vidstyle.shots.shots_for); vidstyle run and timeline check detect it"
            )
        last = frame_count - 1
        warnings: list[str] = []
        placed: list[tuple[Fraction, int, Keyframe]] = []
        for k in self.keyframes:
            kind = k.at[0]
            if kind in ("time", "smpte"):
                t = Fraction(k.at[1]) if kind == "time" else _smpte(k.at[1], fps, k.where)
                frame = math.floor(t * fps + Fraction(1, 1000))  # the frame showing at t
            elif kind == "frame":
                frame = int(k.at[1])
                t = frame / fps
            else:
                assert shots is not None  # checked above
                number, offset = k.at[1], Fraction(k.at[2])
                t = _shot_start(shots, number, fps, k.where) + offset
                if t < 0:
                    raise SettingsError(f"{k.where}: shot {number} {_fmt_offset(offset)} is before the start of the video")
                frame = math.floor(t * fps + Fraction(1, 1000))
            if frame > last:
                warnings.append(
                    f"{k.where}: {float(t):.3f} s is after the end of the video "
                    f"(last frame {last} at {float(last / fps):.3f} s); moved to the last frame"
                )
                frame, t = last, last / fps
            placed.append((t, frame, k))
        placed.sort(key=lambda p: (p[1], p[0]))
        for (_, fa, ka), (_, fb, kb) in zip(placed, placed[1:]):
            if fa == fb:
                clamped = " once moved inside the video" if fa == last else ""
                raise SettingsError(
                    f"{kb.where} and {ka.where.rpartition(': ')[2]} fall on the same frame ({fa}){clamped}: keep one of them"
                )
        out: list[ResolvedKeyframe] = []
        for i, (t, frame, k) in enumerate(placed):
            start = end = float(t)
            if i > 0:
                prev = out[-1]
                if k.curve == "hold" or k.transition == 0:
                    start = end = float(t)
                elif k.transition is None:
                    start = prev.change_end
                else:
                    start, end = float(t) - k.transition / 2, float(t) + k.transition / 2
                if start < prev.change_end - _TIME_EPS:
                    raise SettingsError(
                        f"{k.where}: its transition starts at {start:.3f} s, before the change into "
                        f"{prev.keyframe.where} ends ({prev.change_end:.3f} s): shorten the transitions"
                    )
                pk = prev.keyframe
                if end > start and (k.masks != pk.masks or (k.masks and len(k.styles) != len(pk.styles))):
                    raise SettingsError(
                        f"{k.where}: masks cannot be interpolated; make this keyframe a cut "
                        "(curve = \"hold\" or transition = 0) or keep the previous keyframe's masks and number of styles"
                    )
            shot = bisect.bisect_right(shots.cuts, frame) + 1 if shots is not None else None
            out.append(ResolvedKeyframe(float(t), frame, shot, start, end, k))
        return ResolvedTimeline(tuple(out), tuple(warnings), float(fps), frame_count)


def _shot_start(shots: Any, number: int, fps: Fraction, where: str) -> Fraction:
    """Time of the first frame of shot ``number`` (from 1): its cut time when the list has them, else frame / fps."""
    count = len(shots.cuts) + 1
    if not 1 <= number <= count:
        raise SettingsError(f"{where}: shot {number} does not exist: the video has {count} shots (1-{count})")
    if number == 1:
        return Fraction(0)
    times = getattr(shots, "cut_times", None)
    if times:
        return Fraction(times[number - 2]).limit_denominator(1_000_000)
    return shots.cuts[number - 2] / fps


@dataclass(frozen=True)
class ResolvedKeyframe:
    """A keyframe on the video: its time and frame, and the span of the change into it.

    The look moves from the previous keyframe's to this one's between
    ``change_start`` and ``change_end`` (equal for a cut, and for the first keyframe).
    """

    time: float
    frame: int
    shot: int | None
    change_start: float
    change_end: float
    keyframe: Keyframe


@dataclass(frozen=True)
class ResolvedTimeline:
    keyframes: tuple[ResolvedKeyframe, ...]
    warnings: tuple[str, ...]
    fps: float
    frame_count: int


# --------------------------------------------------------------------------- #
# Statistics per frame
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class StyleSchedule:
    """The resolved timeline with each keyframe's :class:`~vidstyle.look.Look`.

    Build it with :meth:`build`; ask it with :meth:`look_at` (one frame) or
    :meth:`looks_for` (a decoded batch).
    """

    times: tuple[float, ...]
    starts: tuple[float, ...]
    ends: tuple[float, ...]
    curves: tuple[str, ...]
    looks: tuple[Look, ...]

    @classmethod
    def build(
        cls,
        resolved: ResolvedTimeline,
        load_style: Callable[[Path], StyleStats],
        masks: Mapping[tuple[Path, ...], Any] | None = None,
        color_method: str = "histogram",
    ) -> StyleSchedule:
        """One look per keyframe; ``load_style`` is called once per distinct style file.

        Args:
            load_style: path -> :class:`StyleStats` (``Stylizer.load_style``).
            masks: each keyframe's mask paths -> its :class:`vidstyle.masks.MaskSet`
                (loaded and checked against the video by :class:`vidstyle.masks.MaskLoader`).
            color_method: how keyframes that preserve colour do it (:data:`vidstyle.color.METHODS`).
        """
        masks = masks or {}
        cache: dict[Path, StyleStats] = {}
        for p in dict.fromkeys(p for r in resolved.keyframes for p in r.keyframe.styles):
            cache[p] = load_style(p)
        looks = []
        for r in resolved.keyframes:
            k = r.keyframe
            stats = [cache[p] for p in k.styles]
            if not k.masks:
                looks.append(Look.of(stats, k.weights, k.alpha, k.preserve_color, color_method=color_method,
                                     where=k.where))
                continue
            if k.masks not in masks:
                raise ValueError(f"{k.where}: its masks were not loaded (vidstyle.masks.MaskLoader)")
            mset = masks[k.masks]
            looks.append(Look.of(stats, None, k.alpha, k.preserve_color, mset.stills, mask_streams=mset.streams,
                                 color_method=color_method, where=k.where))
        ks = resolved.keyframes
        return cls(
            times=tuple(r.time for r in ks),
            starts=tuple(r.change_start for r in ks),
            ends=tuple(r.change_end for r in ks),
            curves=tuple(r.keyframe.curve for r in ks),
            looks=tuple(looks),
        )

    def look_at(self, frame_index: int, time: float) -> Look:
        """The look of the frame ``frame_index`` shown at ``time`` seconds (from the first frame).

        Pure: depends only on its arguments and the schedule, so any chunk of a
        video gets the looks a whole run gives it. The look follows ``time``
        (keyframes placed by frame or shot were turned into times at resolve);
        ``frame_index`` is part of the contract for per-frame lookups to come.
        """
        t = time + _TIME_EPS
        # The last keyframe whose change has started by t.
        i = bisect.bisect_right(self.starts, t) - 1
        if i <= 0:
            return self.looks[0]
        start, end = self.starts[i], self.ends[i]
        if t >= end or end <= start:
            return self.looks[i]
        u = ease(self.curves[i], (time - start) / (end - start))
        return self.looks[i - 1].towards(self.looks[i], u) if u > 0 else self.looks[i - 1]

    def looks_for(self, batch: Any) -> list[Look]:
        """One look per frame of a decoded batch (:class:`vidstyle.video.FrameBatch`), masks in place.

        Each frame's look comes from :meth:`look_at`; a look with mask videos
        takes that frame's masks from ``batch.masks``.
        """
        return [self.look_at(i, t).for_frame(batch.masks, row)
                for row, (i, t) in enumerate(zip(batch.indices, batch.times))]


# --------------------------------------------------------------------------- #
# Parsing: TOML file and CLI shorthand
# --------------------------------------------------------------------------- #


def parse_duration(value: Any, where: str) -> float:
    """Seconds from ``2``, ``1.5``, ``"2s"``, ``"00:00:02.5"``; SettingsError naming ``where`` otherwise."""
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        raise SettingsError(f"{where}: expected seconds (2.5, \"2.5s\" or \"00:00:02.5\"), got {value!r}")
    text = value.strip()[:-1] if isinstance(value, str) and value.strip().endswith("s") else value
    try:
        return float(parse_time(text))
    except SettingsError as exc:
        raise SettingsError(f"{where}: {exc}") from None


_SMPTE = re.compile(r"^\d+:\d+:\d+[:;]\d+$")


def _time_at(value: Any, where: str) -> tuple:
    """``("time", seconds)``, or ``("smpte", text)`` for HH:MM:SS:FF, read once the frame rate is known."""
    if isinstance(value, str) and _SMPTE.match(value.strip()):
        return ("smpte", value.strip())
    return ("time", Fraction(parse_duration(value, where)).limit_denominator(1_000_000))


def _smpte(text: str, fps: Fraction, where: str) -> Fraction:
    try:
        return parse_time(text, fps)
    except SettingsError as exc:
        raise SettingsError(f"{where}: {exc}") from None


def _fmt_offset(offset: Fraction) -> str:
    return f"{'+' if offset >= 0 else '-'} {abs(float(offset)):g}s"


_SHOT = re.compile(r"^\s*(\d+)\s*(?:([+-])\s*(\d+(?:\.\d*)?|\.\d+)\s*(s|f)?)?\s*$")


def _parse_at(entry: Mapping[str, Any], where: str) -> tuple:
    keys = [k for k in ("at", "frame", "shot") if k in entry]
    if len(keys) != 1:
        raise SettingsError(
            f"{where}: give exactly one of at = SECONDS|\"HH:MM:SS.sss\", frame = N or shot = N"
            + (f" (got {', '.join(keys)})" if keys else "")
        )
    key = keys[0]
    value = entry[key]
    if key == "at":
        if isinstance(value, str) and value.strip().endswith("f"):
            return _frame(value.strip()[:-1], where, key)
        if isinstance(value, (int, float)) and not isinstance(value, bool) and value < 0:
            raise SettingsError(f"{where}: at = {value} is before the start of the video (0 s)")
        return _time_at(value, f"{where}: at")
    if key == "frame":
        return _frame(value, where, key)
    if isinstance(value, int) and not isinstance(value, bool):
        return ("shot", value, Fraction(0))
    m = _SHOT.match(value) if isinstance(value, str) else None
    if not m:
        raise SettingsError(f"{where}: shot = {value!r}: write a shot number, e.g. 3 or \"3 + 1.5s\"")
    number, sign, amount, unit = m.groups()
    offset = Fraction(0)
    if amount is not None:
        if unit == "f":
            raise SettingsError(f"{where}: shot = {value!r}: give the offset in seconds, e.g. \"3 + 1.5s\"")
        offset = Fraction(amount).limit_denominator(1_000_000) * (-1 if sign == "-" else 1)
    return ("shot", int(number), offset)


def _frame(value: Any, where: str, key: str) -> tuple:
    try:
        n = int(value) if not isinstance(value, (bool, float)) else None
    except ValueError:
        n = None
    if n is None:
        raise SettingsError(f"{where}: {key} = {value!r} is not a frame number")
    if n < 0:
        raise SettingsError(f"{where}: {key} = {value!r} is before the start of the video (frame 0)")
    return ("frame", n)


def _check_file(path: Path, where: str, what: str) -> Path:
    if not path.is_file():
        raise InputError(f"{where}: {what} file not found: {path}", settings=f"{what}s")
    return path


def _weights(values: Any, n: int, where: str) -> tuple[float, ...]:
    if values is not None and (
        not isinstance(values, list) or not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values)
    ):
        raise SettingsError(f"{where}: weights must be a list of numbers, e.g. [0.7, 0.3]")
    return check_weights(values, n, where)


def _curve(value: Any, where: str) -> str:
    if value not in CURVES:
        raise SettingsError(f"{where}: curve = {value!r}: use one of {', '.join(CURVES)}")
    return value


def parse_timeline(data: Mapping[str, Any], base: Path, source: str = "timeline") -> Timeline:
    """Check a decoded timeline document (see ``examples/timeline.toml``) and build a :class:`Timeline`.

    Relative style and mask paths are taken from ``base``. A keyframe that
    leaves out its styles, alpha, colour preservation or masks keeps the
    previous keyframe's; ``curve`` and ``transition`` default to the top-level ones.
    """
    unknown = [k for k in data if k not in _TOP_KEYS]
    if unknown:
        raise SettingsError(f"{source}: unknown key {unknown[0]!r} (known: {', '.join(_TOP_KEYS)})")
    curve = _curve(data.get("curve", DEFAULT_CURVE), f"{source}: curve")
    transition = None if "transition" not in data else _transition(data["transition"], f"{source}: transition")
    entries = data.get("keyframe")
    if not isinstance(entries, list) or not entries or not all(isinstance(e, dict) for e in entries):
        raise SettingsError(f"{source}: no keyframes: add at least one [[keyframe]] table with a style")
    out: list[Keyframe] = []
    prev: Keyframe | None = None
    for n, entry in enumerate(entries, 1):
        where = f"{source}: keyframe {n}"
        bad = [k for k in entry if k not in _KEYFRAME_KEYS]
        if bad:
            raise SettingsError(f"{where}: unknown key {bad[0]!r} (known: {', '.join(_KEYFRAME_KEYS)})")
        at = _parse_at(entry, where)
        if "style" in entry and "styles" in entry:
            raise SettingsError(f"{where}: give style = \"a.jpg\" or styles = [...], not both")
        if "style" in entry or "styles" in entry:
            raw = [entry["style"]] if "style" in entry else entry["styles"]
            if not isinstance(raw, list) or not raw or not all(isinstance(s, str) for s in raw):
                raise SettingsError(f"{where}: styles must be a non-empty list of file names")
            styles = tuple(_check_file(base / s, f"{where}: {'style' if 'style' in entry else 'styles'}", "style") for s in raw)
            weights = _weights(entry.get("weights"), len(styles), f"{where}: weights")
        elif prev is not None:
            if "weights" in entry:
                raise SettingsError(f"{where}: weights without styles: list the styles they weigh")
            styles, weights = prev.styles, prev.weights
        else:
            raise SettingsError(f"{where}: the first keyframe needs a style (style = \"a.jpg\")")
        alpha = check_alpha(entry.get("alpha", prev.alpha if prev else 1.0), where)
        pc = entry.get("preserve_color", prev.preserve_color if prev else False)
        if not isinstance(pc, bool):
            raise SettingsError(f"{where}: preserve_color = {pc!r}: give true or false")
        if "masks" in entry:
            raw_m = entry["masks"]
            if not isinstance(raw_m, list) or not all(isinstance(s, str) for s in raw_m):
                raise SettingsError(f"{where}: masks must be a list of file names (greyscale images or mask videos)")
            # A mask sequence (mask.%04d.png) has no one file to check: the mask loader scans it.
            masks = tuple(base / m if is_sequence_path(m) else _check_file(base / m, f"{where}: masks", "mask")
                          for m in raw_m)
        else:
            masks = prev.masks if prev else ()
        if masks:
            check_mask_count(len(masks), len(styles), where)
            if "weights" in entry:
                raise SettingsError(f"{where}: weights and masks cannot be combined: each mask region takes one style")
        k_curve = _curve(entry.get("curve", curve), f"{where}: curve")
        k_trans = _transition(entry["transition"], f"{where}: transition") if "transition" in entry else transition
        if k_curve == "hold" and k_trans:
            raise SettingsError(f"{where}: curve = \"hold\" is a cut; a transition needs curve = \"linear\" or \"smooth\"")
        prev = Keyframe(at, styles, weights, alpha, pc, masks, k_curve, k_trans, where)
        out.append(prev)
    return Timeline(tuple(out), source)


def _transition(value: Any, where: str) -> float:
    return parse_duration(value, where)


def load_timeline(path: str | Path, fps: Fraction | float | None = None) -> Timeline:
    """Read and check a TOML timeline file (format: ``examples/timeline.toml``), or an edit's style markers.

    An edit (``.otio``, ``.edl``, ``.xml``: :mod:`vidstyle.editorial`) gives one
    keyframe per marker that carries a style; ``fps`` is the rate an EDL is
    read at (EDLs do not say; the video's).

    Raises:
        InputError: the file, or a style or mask it names, is missing or not TOML.
        SettingsError: a key, value or combination is wrong (the message names the keyframe).
    """
    path = Path(path)
    from .editorial import is_edit

    if is_edit(path):
        from .editorial import read_edit

        return read_edit(path, fps).timeline()
    return parse_timeline(read_toml(path, "timeline"), path.parent, str(path))


def read_toml(path: Path, what: str) -> dict[str, Any]:
    """The table of a TOML file (timelines, and farm job files, which share the format).

    Raises:
        InputError: ``"<what> not found"`` or ``"<path> is not a valid TOML <what>"``.
    """
    if not path.is_file():
        raise InputError(f"{what} not found: {path}")
    try:
        return tomllib.loads(path.read_text(encoding="utf-8"))
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path} is not a valid TOML {what}: {exc}") from None


def split_style_spec(spec: str) -> tuple[str, tuple | None]:
    """``"b.jpg@12s"`` -> ``("b.jpg", ("time", 12))``; ``"b.jpg@300f"`` -> a frame; no ``@TIME``: None.

    A suffix after the last ``@`` that reads as no time is part of the file name.
    """
    name, sep, when = spec.rpartition("@")
    if not sep or not name:
        return spec, None
    when = when.strip()
    if re.fullmatch(r"\d+f", when):
        return name, ("frame", int(when[:-1]))
    if not re.fullmatch(r"\d[\d:.;]*s?", when):
        return spec, None
    return name, _time_at(when, f"style {spec}")


def timeline_from_styles(
    specs: Sequence[str | Path],
    transition: float | None = None,
    alpha: float = 1.0,
    preserve_color: bool = False,
) -> Timeline | None:
    """The shorthand of styles placed in time: ``["a.jpg", "b.jpg@12s"]`` with ``transition`` seconds.

    Returns None when no spec has ``@TIME`` (plain style mixing keeps its
    meaning). A style without ``@`` must come first and starts at 0 s. Without
    a transition each change is a cut; with one, a linear cross-fade centred on
    the keyframe.
    """
    parsed = [split_style_spec(str(s)) for s in specs]
    if all(at is None for _, at in parsed):
        if transition is not None:
            raise SettingsError("a transition needs styles placed in time, e.g. b.jpg@12s", settings="transition")
        return None
    keyframes = []
    for n, (name, at) in enumerate(parsed):
        where = f"style {specs[n]}"
        if at is None:
            if n > 0:
                raise SettingsError(f"{where}: only the first style may leave out @TIME (it starts at 0 s)",
                                    settings="styles")
            at = ("time", Fraction(0))
        path = _check_file(Path(name), where, "style")
        keyframes.append(Keyframe(at, (path,), (1.0,), alpha, preserve_color, (), "linear",
                                  transition if transition is not None else 0.0, where))
    return Timeline(tuple(keyframes), "styles")


def timeline_for(style: StyleSettings, fps: Fraction | float | None = None) -> Timeline:
    """The timeline of a render's style settings: its timeline, or one keyframe at frame 0.

    A render without a timeline is a timeline whose single look holds from the
    first frame, so every render takes one path to the model. Colour
    preservation in "style" mode is not a keyframe's: it acts on the style
    images when they are loaded (see :func:`vidstyle.render.stylize_video`).

    ``fps`` is the video's rate, for a timeline that is an EDL's markers.

    Raises:
        InputError, SettingsError: as :func:`load_timeline` does for a timeline file.
    """
    if isinstance(style.timeline, Timeline):
        return style.timeline
    if style.timeline is not None:
        return load_timeline(style.timeline, fps)
    styles = tuple(map(Path, style.styles))
    missing = next((p for p in styles if not p.is_file()), None)
    if missing is not None:  # the message Stylizer.load_style would give, before the model loads
        raise InputError(f"style not found: {missing}", settings="styles")
    weights = check_weights(style.weights, len(styles))
    keyframe = Keyframe(("frame", 0), styles, weights, style.alpha, style.color_mode == "output",
                        tuple(map(Path, style.masks)), DEFAULT_CURVE, None, "")
    return Timeline((keyframe,), "styles")
