"""Editorial timelines: an editor's cut (OpenTimelineIO, CMX 3600 EDL, FCP 7 XML) as shots and keyframes.

An edit says two things vidstyle can use, both read by :func:`read_edit`:

- **Its cut points**: every boundary between two items of the picture track
  (clips and gaps; a dissolve's boundary is its cut point, and a through edit
  of one source continuing is not a cut). :meth:`Edit.shot_list` turns them
  into a :class:`~vidstyle.shots.ShotList` of the rendered video, instead of
  detecting cuts: a timeline that places keyframes by shot (``shot = 3``) and
  the preview then follow the editor's shots exactly.
- **Its markers** whose name or metadata carry vidstyle settings, e.g. a marker
  named ``style=starry.jpg alpha=0.8 transition=1s``, or metadata
  ``{"vidstyle": {"style": "starry.jpg"}}``. :meth:`Edit.timeline` makes each a
  keyframe at the marker's place (style paths relative to the edit file); keys
  are those of a TOML timeline keyframe: ``style``, ``styles`` (comma
  separated), ``weights``, ``alpha``, ``preserve_color``, ``masks``, ``curve``
  and ``transition`` (default 0: a marker is a cut). Other markers are notes and
  are left alone.

Times: positions count from the start of the edit (its first frame is frame 0
of the rendered video, whatever its record timecode), and become frames of
the video by time, so an edit and its render may differ in rate. Where a
marker sits: on the stack or a track, at its time there; on a clip, OTIO puts
it in the clip's source time. A CMX 3600 EDL has no rate (give the video's)
and its locators (``* LOC: 01:00:03:12 RED style=a.jpg``) are written with the
record timecode by Avid and with the source timecode by OTIO's own EDL writer:
a locator is placed by its event's record range when it falls inside, else by
its source range. EDLs are all capitals once written by OTIO, so a style file
not found as written is looked up without regard to case.

:func:`write_shot_list` writes a shot list the other way, as an edit (``.otio``,
``.edl``, ``.xml``): one clip per shot of the video, so an editor can bring
vidstyle's cuts into their tool.

OpenTimelineIO is optional: ``pip install 'vidstyle[otio]'`` (with the CMX 3600
and FCP XML adapters).
"""
from __future__ import annotations

import math
import os
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path
from typing import Any

from .errors import InputError, OutputError, SettingsError
from .outputs import atomic_path
from .timeline import Timeline, parse_timeline

__all__ = ["EDIT_SUFFIXES", "EditMarker", "Edit", "read_edit", "is_edit", "write_shot_list", "parse_marker"]

# Extension -> OpenTimelineIO adapter.
EDIT_SUFFIXES = {".otio": "otio_json", ".otioz": "otioz", ".otiod": "otiod", ".edl": "cmx_3600", ".xml": "fcp_xml"}
_WRITABLE = (".otio", ".edl", ".xml")
# Marker keys, as a timeline keyframe has them (placement comes from the marker).
MARKER_KEYS = ("style", "styles", "weights", "alpha", "preserve_color", "masks", "curve", "transition")
_TOKEN = re.compile(r"([A-Za-z_]+)\s*=\s*(\S+)")
_TRUE = {"true", "yes", "1", "on"}
_FALSE = {"false", "no", "0", "off"}


def _otio():
    try:
        import opentimelineio
    except ImportError:
        raise SettingsError("reading and writing edits needs OpenTimelineIO: pip install 'vidstyle[otio]'",
                            settings="edit") from None
    return opentimelineio


def is_edit(path: str | os.PathLike[str]) -> bool:
    """True when ``path`` names an edit vidstyle reads (by extension: .otio .otioz .otiod .edl .xml)."""
    return Path(path).suffix.lower() in EDIT_SUFFIXES


def _seconds(t: Any) -> Fraction:
    """An OTIO RationalTime as exact seconds (rates such as 23.976... become 24000/1001)."""
    rate = Fraction(t.rate).limit_denominator(1001)
    return Fraction(t.value).limit_denominator(1_000_000) / rate


# --------------------------------------------------------------------------- #
# Markers
# --------------------------------------------------------------------------- #


def parse_marker(name: str, metadata: Any = None) -> dict[str, str]:
    """The vidstyle settings a marker carries: ``key=value`` tokens of its name, and its metadata.

    Keys are matched without regard to case (EDLs are written in capitals);
    metadata may hold them under ``"vidstyle"`` or at its top level.

    >>> parse_marker("STYLE=starry.jpg  alpha=0.8; note: rain")
    {'style': 'starry.jpg', 'alpha': '0.8'}
    """
    found: dict[str, str] = {}
    for key, value in _TOKEN.findall(name or ""):
        if key.lower() in MARKER_KEYS:
            found[key.lower()] = value.rstrip(";")
    tables = []
    if metadata is not None:
        try:
            meta = dict(metadata)
        except (TypeError, ValueError):
            meta = {}
        inner = meta.get("vidstyle")
        tables = [meta] + ([dict(inner)] if inner is not None and hasattr(inner, "keys") else [])
    for table in tables:
        for key, value in table.items():
            if str(key).lower() in MARKER_KEYS and not hasattr(value, "keys"):
                found[str(key).lower()] = ",".join(map(str, value)) if isinstance(value, (list, tuple)) or (
                    hasattr(value, "__iter__") and not isinstance(value, str)) else str(value)
    return found


@dataclass(frozen=True)
class EditMarker:
    """A marker of an edit that carries vidstyle settings, placed on the edit."""

    time: Fraction  # seconds from the start of the edit
    timecode: str  # as the edit shows it (record timecode)
    name: str
    settings: dict[str, str]


@dataclass(frozen=True)
class Edit:
    """What vidstyle reads from an edit: its length, its cut points and its style markers.

    ``cuts`` are seconds from the edit's start (its first frame); ``rate`` is
    the edit's frame rate; ``record_start`` the record timecode of its first
    frame, in seconds (an EDL's usually 01:00:00:00).
    """

    path: Path
    rate: Fraction
    duration: Fraction
    record_start: Fraction
    cuts: tuple[Fraction, ...]
    shot_names: tuple[str, ...]
    markers: tuple[EditMarker, ...]
    warnings: tuple[str, ...] = ()

    def shot_list(self, fps: Fraction | float, frames: int) -> Any:
        """The cut points as the :class:`~vidstyle.shots.ShotList` of a video of ``frames`` frames at ``fps``.

        Each cut becomes the frame showing at its time. A cut at or after the
        video's end is left out (:attr:`warnings` of the result's source
        says so via :meth:`check_length`).
        """
        from .shots import ShotList, ShotSettings

        fps = Fraction(fps)
        cuts = sorted({math.floor(t * fps + Fraction(1, 1000)) for t in self.cuts})
        cuts = [c for c in cuts if 0 < c < frames]
        return ShotList(
            cuts=tuple(cuts), frames=frames, fps=fps, cut_times=tuple(round(float(c / fps), 6) for c in cuts),
            duration=round(float(frames / fps), 6),
            settings=ShotSettings(min_shot_frames=1, method=f"edit:{self.path.name}"),
        )

    def check_length(self, fps: Fraction | float, frames: int) -> list[str]:
        """Warnings when the video is not as long as the edit (another cut, or a handle left on)."""
        video = Fraction(frames) / Fraction(fps)
        if abs(video - self.duration) * Fraction(fps) <= 1:
            return []
        lost = sum(1 for t in self.cuts if t * Fraction(fps) >= frames)
        return [f"{self.path.name} lasts {float(self.duration):.3f} s but the video {float(video):.3f} s: "
                f"is the video the render of this edit?" + (f" ({lost} cut{'s' if lost > 1 else ''} after its end "
                                                             "left out)" if lost else "")]

    def timeline(self) -> Timeline:
        """The style markers as a :class:`~vidstyle.timeline.Timeline` (keyframes by time, cuts unless a
        marker gives a ``transition``).

        Raises:
            SettingsError: no marker carries a style, or one carries a wrong value (named).
            InputError: a style file a marker names is missing.
        """
        if not self.markers:
            raise SettingsError(
                f"{self.path}: no marker carries a style: name a marker like 'style=starry.jpg' "
                "(at the frame where the style starts), or give the styles another way", settings="timeline",
            )
        base = self.path.parent
        entries = []
        for m in self.markers:  # in time order
            entry: dict[str, Any] = {"at": float(m.time)}
            where = f"marker {m.name!r} at {m.timecode}"
            for key, value in m.settings.items():
                entry[key] = _marker_value(key, value, base, where, self.rate)
            entries.append(entry)
        return parse_timeline({"transition": 0, "keyframe": entries}, base, f"{self.path} (style markers in time order)")


def _find_file(base: Path, name: str) -> str:
    """``name`` as written if it exists under ``base``, else the one file that matches it without regard to case."""
    if (base / name).exists():
        return name
    folder = (base / name).parent
    if folder.is_dir():
        matches = [p.name for p in folder.iterdir() if p.name.lower() == Path(name).name.lower()]
        if len(matches) == 1:
            return str(Path(name).parent / matches[0])
    return name  # parse_timeline says it is missing


def _marker_value(key: str, value: str, base: Path, where: str, rate: Fraction) -> Any:
    try:
        if key == "style":
            return _find_file(base, value)
        if key in ("styles", "masks"):
            return [_find_file(base, v) for v in value.split(",") if v]
        if key == "weights":
            return [float(v) for v in value.split(",")]
        if key == "alpha":
            return float(value)
        if key == "preserve_color":
            if value.lower() not in _TRUE | _FALSE:
                raise ValueError
            return value.lower() in _TRUE
        if key == "curve":
            return value.lower()
        if key == "transition":
            if value.lower().endswith("f"):  # frames of the edit
                return float(int(value[:-1]) / rate)
            return value.lower()
    except ValueError:
        raise SettingsError(f"{where}: {key}={value!r} is not a valid value", settings="timeline") from None
    return value


# --------------------------------------------------------------------------- #
# Reading
# --------------------------------------------------------------------------- #


def _read(path: Path, rate: Fraction | None) -> Any:
    otio = _otio()
    adapter = EDIT_SUFFIXES.get(path.suffix.lower())
    if adapter is None:
        raise SettingsError(f"{path.name}: edits are .otio, .otioz, .otiod, .edl (CMX 3600) or .xml (FCP 7)",
                            settings="edit")
    if not path.exists():
        raise InputError(f"edit not found: {path}", settings="edit")
    if adapter not in otio.adapters.available_adapter_names():
        raise SettingsError(f"reading {path.suffix} files needs OpenTimelineIO's {adapter} adapter: "
                            "pip install 'vidstyle[otio]'", settings="edit")
    kwargs: dict[str, Any] = {}
    if adapter == "cmx_3600":
        if rate is None:
            raise SettingsError(f"{path.name}: an EDL has no frame rate; give the video's", settings="edit")
        kwargs["rate"] = float(rate)
    try:
        result = otio.adapters.read_from_file(str(path), adapter_name=adapter, **kwargs)
    except Exception as exc:  # noqa: BLE001 - adapters raise anything; the user needs one line
        raise InputError(f"{path} is not a readable {adapter} edit ({exc.__class__.__name__}: {exc})",
                         settings="edit") from None
    if isinstance(result, otio.schema.SerializableCollection):
        timelines = list(result.find_children(descended_from_type=otio.schema.Timeline, shallow_search=True))
        if not timelines:
            raise InputError(f"{path} holds no timeline", settings="edit")
        result = timelines[0]
    if not isinstance(result, otio.schema.Timeline):
        raise InputError(f"{path} holds a {type(result).__name__}, not a timeline", settings="edit")
    return result


def _through_edit(a: Any, b: Any) -> bool:
    """Two clips of one source, the second continuing where the first ends: a cut in name only."""
    otio = _otio()
    if not (isinstance(a, otio.schema.Clip) and isinstance(b, otio.schema.Clip)):
        return False
    ra, rb = a.trimmed_range(), b.trimmed_range()
    same = a.name == b.name and getattr(a.media_reference, "target_url", None) == getattr(
        b.media_reference, "target_url", None)
    return same and abs(_seconds(ra.end_time_exclusive()) - _seconds(rb.start_time)) < Fraction(1, 1000)


def read_edit(path: str | os.PathLike[str], rate: Fraction | float | None = None) -> Edit:
    """Read an edit's cut points and style markers.

    Args:
        path: ``.otio``, ``.otioz``, ``.otiod``, ``.edl`` (CMX 3600) or ``.xml`` (FCP 7).
        rate: the frame rate to read an EDL at (EDLs do not say; give the
            video's). Other formats carry their own and ignore it.

    Raises:
        SettingsError: OpenTimelineIO or the adapter is not installed; an EDL without ``rate``.
        InputError: the file is missing, unreadable, or has no picture track.
    """
    otio = _otio()
    path = Path(path)
    tl = _read(path, None if rate is None else Fraction(rate))
    tracks = list(tl.video_tracks())
    if not tracks:
        raise InputError(f"{path} has no picture (video) track", settings="edit")
    warnings: list[str] = []
    cmx = path.suffix.lower() == ".edl"
    # The record timecode of the first frame: an EDL keeps it in its track's start, OTIO in global_start_time.
    first = tracks[0]
    if cmx and first.source_range is not None and first.source_range.start_time.value < 0:
        record_start = -_seconds(first.source_range.start_time)
    elif tl.global_start_time is not None:
        record_start = _seconds(tl.global_start_time)
    else:
        record_start = Fraction(0)
    if len(tracks) > 1:
        track = otio.algorithms.flatten_stack(tracks)  # what is seen: the top clip wherever tracks overlap
    else:
        track = first
    items = list(track)
    edit_rate = None
    cuts: list[Fraction] = []
    names: list[str] = []
    prev = None
    position = Fraction(0)
    for i, item in enumerate(items):
        if isinstance(item, otio.schema.Transition):
            continue
        r = track.range_of_child_at_index(i)
        start = _seconds(r.start_time)
        if edit_rate is None and isinstance(item, otio.schema.Clip):
            edit_rate = Fraction(r.duration.rate).limit_denominator(1001)
        if prev is not None and start > 0 and not _through_edit(prev, item):
            cuts.append(start)
            names.append(item.name or type(item).__name__.lower())
        elif prev is None:
            names.append(item.name or type(item).__name__.lower())
        prev = item
        position = start + _seconds(r.duration)
    duration = position
    rate_ = edit_rate or (Fraction(rate) if rate is not None else Fraction(24))
    markers = _markers(tl, track, items, cmx, record_start, duration, rate_, path, warnings)
    return Edit(path, rate_, duration, record_start, tuple(cuts), tuple(names), tuple(markers), tuple(warnings))


def _timecode(otio: Any, seconds: Fraction, rate: Fraction) -> str:
    return otio.opentime.to_timecode(otio.opentime.RationalTime(round(seconds * rate), float(rate)), float(rate))


def _markers(tl: Any, track: Any, items: list, cmx: bool, record_start: Fraction, duration: Fraction,
             rate: Fraction, path: Path, warnings: list[str]) -> list[EditMarker]:
    """Every marker carrying vidstyle settings, placed in seconds from the edit's start, in time order."""
    otio = _otio()
    found: list[tuple[Fraction, Any]] = []
    for m in tl.tracks.markers:
        found.append((_seconds(m.marked_range.start_time), m))
    for t in tl.video_tracks():
        for m in t.markers:
            found.append((_seconds(m.marked_range.start_time), m))
    for i, item in enumerate(items):
        if isinstance(item, otio.schema.Transition) or not getattr(item, "markers", None):
            continue
        r = track.range_of_child_at_index(i)
        rec0, rec1 = _seconds(r.start_time), _seconds(r.end_time_exclusive())
        src = item.trimmed_range()
        src0, src1 = _seconds(src.start_time), _seconds(src.end_time_exclusive())
        for m in item.markers:
            t = _seconds(m.marked_range.start_time)
            as_record = t - record_start
            if cmx and rec0 <= as_record < rec1:  # Avid: the locator's record timecode
                found.append((as_record, m))
            elif src0 <= t < src1:  # OTIO: the clip's source time
                found.append((rec0 + t - src0, m))
            elif parse_marker(m.name, m.metadata):
                warnings.append(f"{path.name}: marker {m.name!r} on {item.name!r} lies outside that clip; ignored")
    out = []
    for t, m in sorted(found, key=lambda p: p[0]):
        settings = parse_marker(m.name, m.metadata)
        if not settings:
            continue
        if not 0 <= t < duration:
            warnings.append(f"{path.name}: marker {m.name!r} lies outside the edit ({float(t):.3f} s); ignored")
            continue
        out.append(EditMarker(t, _timecode(otio, t + record_start, rate), m.name, settings))
    return out


# --------------------------------------------------------------------------- #
# Writing
# --------------------------------------------------------------------------- #


def write_shot_list(
    shots: Any,
    dest: str | os.PathLike[str],
    media: str | os.PathLike[str] | None = None,
    *,
    overwrite: bool = False,
    record_start: str | None = None,
) -> Path:
    """Write a :class:`~vidstyle.shots.ShotList` as an edit: one clip per shot, in ``.otio``, ``.edl`` or ``.xml``.

    Args:
        shots: the shot list.
        dest: the edit to write; its extension picks the format.
        media: the video the shots are of (each clip refers to it), when known.
        overwrite: replace ``dest``.
        record_start: the edit's first record timecode (``"01:00:00:00"``);
            None: 00:00:00:00.

    Raises:
        SettingsError: another extension, or OpenTimelineIO missing.
        OutputError: ``dest`` exists or cannot be written.
    """
    otio = _otio()
    ot = otio.opentime
    dest = Path(dest)
    suffix = dest.suffix.lower()
    if suffix not in _WRITABLE:
        raise SettingsError(f"cannot write {dest.name}: a shot list is written as .otio, .edl or .xml",
                            settings="output")
    adapter = EDIT_SUFFIXES[suffix]
    if adapter not in otio.adapters.available_adapter_names():
        raise SettingsError(f"writing {suffix} files needs OpenTimelineIO's {adapter} adapter: "
                            "pip install 'vidstyle[otio]'", settings="output")
    rate = float(shots.fps)
    name = Path(media).name if media is not None else "vidstyle shots"
    tl = otio.schema.Timeline(name=name)
    track = otio.schema.Track(name="V1", kind=otio.schema.TrackKind.Video)
    tl.tracks.append(track)
    if record_start is not None:
        tl.global_start_time = ot.from_timecode(record_start, rate)
    available = ot.TimeRange(ot.RationalTime(0, rate), ot.RationalTime(shots.frames, rate))
    for n, (a, b) in enumerate(shots.shots(), start=1):
        ref = (otio.schema.ExternalReference(target_url=Path(media).resolve().as_uri(), available_range=available)
               if media is not None else otio.schema.MissingReference())
        clip = otio.schema.Clip(name=f"shot {n:03d}", media_reference=ref,
                                source_range=ot.TimeRange(ot.RationalTime(a, rate), ot.RationalTime(b - a, rate)))
        clip.metadata["vidstyle"] = {"shot": n, "start_frame": a, "end_frame": b}
        track.append(clip)
    tl.metadata["vidstyle"] = {"shots": shots.count, "frames": shots.frames, "method": shots.settings.method}
    try:
        text = otio.adapters.write_to_string(tl, adapter_name=adapter)
    except Exception as exc:  # noqa: BLE001 - adapters raise anything
        raise OutputError(f"cannot write {dest.name} as {adapter}: {exc}") from None
    with atomic_path(dest, overwrite=overwrite, inputs=() if media is None else (Path(media),)) as tmp:
        tmp.write_text(text, encoding="utf-8")
    return dest
