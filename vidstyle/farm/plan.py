"""Farm jobs and plans: which renders, cut into which chunks, with which settings.

A *job file* is TOML, like a timeline file::

    chunk_frames = 240            # optional; --chunk-frames overrides

    [defaults]                    # any render key, for every render
    size = 512
    codec = "libx264"

    [[render]]
    input = "clips/walk.mp4"      # paths are relative to the job file
    output = "out/walk_styled.mp4"  # default: <input>_styled.mp4 beside it
    style = "starry.jpg"          # or styles = [...], weights, alpha, preserve_color, masks, color_method
    # timeline = "walk.toml"      # instead of the style keys

Left out, a key takes the default of its settings value
(:mod:`vidstyle.settings`), as ``vidstyle run`` does.

A *plan* is the job resolved against its inputs, written as ``plan.json`` in a
plan folder: absolute paths, every setting explicit, each input's identity and
exact frame count, the shot list (when the temporal stage is on, or a timeline
places keyframes by shot), and the chunks (half-open frame ranges ``[start,
stop)`` with the input timestamp of their first frame, and the frame their
warm-up starts at). It is plain JSON so any farm scheduler can read it.

What a chunk needs to know from before its start is all in the plan or in the
input file: the whole video's frame count and rate (a timeline is resolved
against the whole video, never the chunk), the first frame's timestamp (frame
times count from it) and the shot list (shot numbers count from the first
frame). The style schedule is then a pure function of the frame, so a frame
gets the same look whichever chunk holds it. The plan fixes each render's
batch (the job's, else what the planning machine's device picks), and chunk
boundaries fall on multiples of it, so every frame is stylized in the same
batch, with the same neighbours, as in a single run with that batch: the
pixels are then bit for bit the same on the same device.

The temporal stage (on by default) is the one thing with memory: each chunk
first renders the ``warmup`` frames before its start without writing them
(from the last shot start or timeline cut inside that window, if one is
there: the memory then matches a single run's exactly), so that its first
written frame matches a single run's (:func:`warmup_from`; the default
:data:`DEFAULT_WARMUP` is measured in ``benchmarks/RESULTS-flicker.md``).
Before its warm-up a chunk follows the source's flow alone (no model) from
the grid phase lock's last restart, so the whole warm-up runs at a single
run's phase (:meth:`vidstyle.render.Steady.phase_from`).
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field, replace
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError, SettingsError
from ..outputs import atomic_path
from ..settings import EncodeSettings, ModelSettings, SequenceSettings, SteadySettings, StyleSettings
from ..timeline import read_toml

__all__ = [
    "FORMAT",
    "RenderSpec",
    "ChunkPlan",
    "RenderPlan",
    "Plan",
    "load_job",
    "make_plan",
    "load_plan",
    "DEFAULT_CHUNK_FRAMES",
    "DEFAULT_WARMUP",
    "warmup_from",
]

FORMAT = "vidstyle.farm-plan/3"
PLAN_FILE = "plan.json"
DEFAULT_CHUNK_FRAMES = 240
# Frames a chunk renders before its first to rebuild the temporal stage's
# memory (rounded up to a multiple of the batch): 27% more work on a chunk of
# 240. Measured at the joins against a single render at the default --size
# with the shipped decoder and the default steadying (benchmarks/RESULTS-flicker.md,
# bench_joins/default-size-preroll and default-size-fixed): a moving camera
# (pan_dune and back, joins at 56 and 72) is at 43 dB after 32 frames and 49.5
# after 48; a fixed camera converges more slowly (its still background's strokes
# are copied, and a copy forgets more slowly than an average: vtest_audio and
# back, joins at 72 and 96, 39.7 and 40.2 dB after 48 frames, 41.3 and 41.7 after
# 64), so 64 is the least measured that keeps every join at 40 dB or more.
DEFAULT_WARMUP = 64

# Job keys, by the settings value they go to (``style`` is the one-style form of ``styles``).
_STYLE_KEYS = {"style": str, "styles": list, "weights": list, "alpha": (int, float), "preserve_color": (bool, str),
               "masks": list, "timeline": str, "color_method": str}
_MODEL_KEYS = {"size": int, "device": str, "batch": int, "backend": str, "quality": str}
_ENCODE_KEYS = {"codec": str, "crf": int, "preset": str, "pix_fmt": str, "x264_params": str}
_SEQUENCE_KEYS = {"fps": (int, float, str), "transfer": str}
_STEADY_KEYS = {"steady": bool, "steady_strength": (int, float), "steady_carry": bool}
_RENDER_KEYS = {"name": str, "input": str, "output": str, "edit": str, "warmup": int, **_STYLE_KEYS, **_MODEL_KEYS,
                **_ENCODE_KEYS, **_SEQUENCE_KEYS, **_STEADY_KEYS}
_JOB_KEYS = {"chunk_frames", "defaults", "render"}


@dataclass(frozen=True)
class RenderSpec:
    """One render of a job: its files (absolute paths) and its settings, every one explicit."""

    name: str
    input: str
    output: str
    style: StyleSettings
    model: ModelSettings = ModelSettings()
    encode: EncodeSettings = EncodeSettings()
    sequence: SequenceSettings = SequenceSettings()
    edit: str | None = None  # an editor's cut of the input: its cut points are the shot list
    steady: SteadySettings = SteadySettings()
    warmup: int = DEFAULT_WARMUP  # frames before each chunk, asked for (the plan rounds it to the batch)

    @property
    def writes_sequence(self) -> bool:
        """True when the output is an image sequence: chunks write its frames in place, nothing is joined."""
        from ..video import is_sequence_path

        return is_sequence_path(self.output)

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "input": self.input, "output": self.output, "style": asdict(self.style),
                "model": asdict(self.model), "encode": asdict(self.encode), "sequence": self.sequence.to_dict(),
                "edit": self.edit, "steady": asdict(self.steady), "warmup": self.warmup}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RenderSpec:
        return cls(d["name"], d["input"], d["output"], StyleSettings(**d["style"]), ModelSettings(**d["model"]),
                   EncodeSettings(**d["encode"]), SequenceSettings(**d.get("sequence", {})), d.get("edit"),
                   SteadySettings(**d["steady"]), int(d["warmup"]))


@dataclass(frozen=True)
class ChunkPlan:
    """Frames ``[start, stop)`` of one render; ``first_pts`` is the input timestamp of ``start``.

    ``warmup_from`` is the first frame the chunk renders: the frames from it
    to ``start`` rebuild the temporal stage's memory and are not written.
    """

    index: int  # in the whole plan (what ``farm render --chunk K`` takes)
    render: str  # the render's id
    number: int  # within the render, from 0
    start: int
    stop: int
    first_pts: int
    file: str  # relative to the plan folder
    warmup_from: int = -1  # -1: start

    def __post_init__(self) -> None:
        if self.warmup_from < 0:
            object.__setattr__(self, "warmup_from", self.start)

    @property
    def frames(self) -> int:
        return self.stop - self.start

    @property
    def warmup(self) -> int:
        """Frames rendered before ``start`` and not written."""
        return self.start - self.warmup_from

    @property
    def label(self) -> str:
        return f"chunk {self.index} ({self.render} frames {self.start}-{self.stop - 1})"


@dataclass(frozen=True)
class RenderPlan:
    """A render resolved against its input: identity, frame count, shots, chunks."""

    id: str
    spec: RenderSpec
    key: str  # sha256 of everything that decides the pixels; chunk markers must match it
    input_identity: dict[str, Any]
    files: dict[str, str]  # every style/mask/timeline file -> sha256
    frames: int
    fps: str
    time_base: str
    shots: dict[str, Any] | None
    chunk_frames: int  # the plan's chunk size, rounded up to a multiple of this render's batch
    chunks: tuple[ChunkPlan, ...]
    warmup: int = 0  # the warm-up the chunks use: the spec's rounded up to the batch, 0 without the temporal stage

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "settings": self.spec.to_dict(),
            "key": self.key,
            "input_identity": self.input_identity,
            "files": self.files,
            "frames": self.frames,
            "fps": self.fps,
            "time_base": self.time_base,
            "shots": self.shots,
            "chunk_frames": self.chunk_frames,
            "warmup": self.warmup,
            "chunks": [
                {"index": c.index, "number": c.number, "start": c.start, "stop": c.stop,
                 "first_pts": c.first_pts, "file": c.file, "warmup_from": c.warmup_from}
                for c in self.chunks
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RenderPlan:
        return cls(
            id=d["id"], spec=RenderSpec.from_dict(d["settings"]), key=d["key"], input_identity=d["input_identity"],
            files=dict(d["files"]), frames=int(d["frames"]), fps=d["fps"], time_base=d["time_base"],
            shots=d.get("shots"), chunk_frames=int(d["chunk_frames"]),
            chunks=tuple(
                ChunkPlan(int(c["index"]), d["id"], int(c["number"]), int(c["start"]), int(c["stop"]),
                          int(c["first_pts"]), c["file"], int(c["warmup_from"]))
                for c in d["chunks"]
            ),
            warmup=int(d["warmup"]),
        )

    def shot_list(self):
        """The stored shot list as a :class:`vidstyle.shots.ShotList` (None without one)."""
        if self.shots is None:
            return None
        from ..shots import ShotList

        return ShotList.from_dict(self.shots)


@dataclass(frozen=True)
class Plan:
    """A plan folder's content: the renders and their chunks."""

    folder: Path
    job: str
    chunk_frames: int
    renders: tuple[RenderPlan, ...] = field(default_factory=tuple)

    @property
    def chunks(self) -> list[ChunkPlan]:
        return [c for r in self.renders for c in r.chunks]

    def render(self, render_id: str | None) -> RenderPlan:
        if render_id is None:
            if len(self.renders) == 1:
                return self.renders[0]
            raise SettingsError(
                f"the plan has {len(self.renders)} renders: say which render "
                f"({', '.join(r.id for r in self.renders)})", settings="render_id",
            )
        for r in self.renders:
            if r.id == render_id or r.spec.name == render_id:
                return r
        raise SettingsError(f"no render {render_id!r} in the plan; it has: {', '.join(r.id for r in self.renders)}",
                            settings="render_id")

    def chunk(self, index: int) -> ChunkPlan:
        chunks = self.chunks
        if not 0 <= index < len(chunks):
            raise SettingsError(f"chunk {index} is not in the plan: it has chunks 0-{len(chunks) - 1}",
                                settings="chunks")
        return chunks[index]

    def chunks_in(self, render_id: str | None, first: int, last: int) -> list[ChunkPlan]:
        """The chunks of a render covering frames ``first..last`` (inclusive, as farms pass them)."""
        r = self.render(render_id)
        if last < first:
            raise SettingsError(f"frame range {first}-{last} is empty", settings="frame_range")
        picked = [c for c in r.chunks if c.start <= last and c.stop > first]
        if not picked or picked[0].start != first or picked[-1].stop - 1 != min(last, r.frames - 1):
            bounds = ", ".join(f"{c.start}-{c.stop - 1}" for c in r.chunks[:6])
            raise SettingsError(
                f"frames {first}-{last} of {r.id} do not match the plan's chunks "
                f"({bounds}{', ...' if len(r.chunks) > 6 else ''}): give the scheduler the plan's chunk size "
                f"({r.chunk_frames} frames), or pick chunks by index", settings=("frame_range", "chunks"),
            )
        return picked

    def path(self, chunk: ChunkPlan) -> Path:
        return self.folder / chunk.file

    @property
    def notes(self) -> list[str]:
        """What the plan made of its settings that the user did not ask for (chunk sizes rounded up)."""
        return [
            f"{r.id}: chunks of {r.chunk_frames} frames instead of {self.chunk_frames}, a multiple of its batch "
            f"({r.spec.model.batch} frames), so that every frame is batched as in a single run"
            for r in self.renders if r.chunk_frames != self.chunk_frames
        ]

    def to_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "job": self.job,
            "chunk_frames": self.chunk_frames,
            "renders": [r.to_dict() for r in self.renders],
        }


# --------------------------------------------------------------------------- #
# Job files
# --------------------------------------------------------------------------- #


def _check_keys(table: dict[str, Any], where: str) -> None:
    for key, value in table.items():
        if key not in _RENDER_KEYS:
            raise SettingsError(f"{where}: unknown key {key!r}; known: {', '.join(sorted(_RENDER_KEYS))}")
        kind = _RENDER_KEYS[key]
        if isinstance(value, bool) and kind in (int, (int, float)):
            raise SettingsError(f"{where}: {key} = {value!r} must be a number")
        if not isinstance(value, kind):
            raise SettingsError(f"{where}: {key} = {value!r} has the wrong type")


def load_job(path: str | os.PathLike[str]) -> tuple[list[RenderSpec], int | None]:
    """Read and check a job file; returns its renders and its ``chunk_frames`` (or None).

    Raises:
        InputError: the job file or a file it names is missing or not TOML.
        SettingsError: a key, a value or a combination is wrong (the message names the render).
    """
    path = Path(path)
    data = read_toml(path, "job file")
    unknown = set(data) - _JOB_KEYS
    if unknown:
        raise SettingsError(f"{path}: unknown key(s) {', '.join(sorted(unknown))}; a job has chunk_frames, [defaults] and [[render]]")
    defaults = data.get("defaults", {})
    if not isinstance(defaults, dict):
        raise SettingsError(f"{path}: [defaults] must be a table")
    _check_keys(defaults, f"{path} [defaults]")
    renders = data.get("render")
    if not isinstance(renders, list) or not renders:
        raise SettingsError(f"{path}: no [[render]] entries; each needs at least input and style or timeline")
    chunk_frames = data.get("chunk_frames")
    if chunk_frames is not None and (not isinstance(chunk_frames, int) or isinstance(chunk_frames, bool) or chunk_frames < 1):
        raise SettingsError(f"{path}: chunk_frames must be a positive whole number, got {chunk_frames!r}")
    base = path.parent.resolve()
    specs: list[RenderSpec] = []
    names: set[str] = set()
    for n, entry in enumerate(renders, start=1):
        where = f"{path} [[render]] #{n}"
        if not isinstance(entry, dict):
            raise SettingsError(f"{where}: must be a table")
        _check_keys(entry, where)
        d = {**defaults, **entry}
        if "input" not in d:
            raise SettingsError(f"{where}: needs input = \"video file\"")
        spec = _spec(d, base, where)
        if spec.name in names:
            raise SettingsError(f"{where}: name {spec.name!r} is used twice; give each render its own name")
        names.add(spec.name)
        specs.append(spec)
    outputs = [s.output for s in specs]
    dup = {o for o in outputs if outputs.count(o) > 1}
    if dup:
        raise SettingsError(f"{path}: two renders write {sorted(dup)[0]}; give each its own output")
    return specs, chunk_frames


def _abs(value: str, base: Path) -> str:
    p = Path(value).expanduser()
    return str(p if p.is_absolute() else (base / p).resolve())


def _spec(d: dict[str, Any], base: Path, where: str) -> RenderSpec:
    from ..video import default_output_path, default_sequence_output, is_sequence_path
    from ..video.sequence import sequence_name

    inp = _abs(d["input"], base)
    if "style" in d and "styles" in d:
        raise SettingsError(f"{where}: give style or styles, not both")
    styles = [d["style"]] if "style" in d else list(d.get("styles") or ())
    # A sequence is named by its prefix: plate.####.exr -> plate.
    name = d.get("name") or sequence_name(inp)
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise SettingsError(f"{where}: name {name!r} may only hold letters, digits, '.', '_' and '-'")
    timeline = d.get("timeline")
    edit = None if d.get("edit") is None else _abs(d["edit"], base)
    if edit is not None and timeline is None and not styles:
        timeline = d["edit"]  # the edit's style markers are the timeline
    try:
        style = StyleSettings(
            styles=tuple(_abs(s, base) for s in styles),
            weights=None if d.get("weights") is None else tuple(float(w) for w in d["weights"]),
            preserve_color=d.get("preserve_color", False),
            masks=tuple(_abs(m, base) for m in d.get("masks", ())),
            timeline=None if timeline is None else _abs(timeline, base),
            **{k: d[k] for k in ("alpha", "color_method") if k in d},
        )
        model = ModelSettings(**{k: d[k] for k in _MODEL_KEYS if k in d})
        encode = EncodeSettings(**{k: d[k] for k in _ENCODE_KEYS if k in d})
        sequence = SequenceSettings(**{k: d[k] for k in _SEQUENCE_KEYS if k in d})
        steady = SteadySettings(d.get("steady", SteadySettings.enabled), d.get("steady_strength", SteadySettings.strength),
                                d.get("steady_carry", SteadySettings.carry))
        warmup = d.get("warmup", DEFAULT_WARMUP)
        if warmup < 0:
            raise SettingsError(f"warmup must be a whole number of frames, at least 0, got {warmup}", settings="warmup")
    except SettingsError as exc:
        raise SettingsError(f"{where}: {exc}", settings=exc.settings) from None
    if "output" in d:
        output = _abs(d["output"], base)
    else:
        output = str(default_sequence_output(inp) if is_sequence_path(inp) else
                     default_output_path(inp, codec=encode.codec))
    return RenderSpec(name=name, input=inp, output=output, style=style, model=model, encode=encode,
                      sequence=sequence, edit=edit, steady=steady, warmup=warmup)


# --------------------------------------------------------------------------- #
# Planning
# --------------------------------------------------------------------------- #


def _aligned(chunk_frames: int, batch: int) -> int:
    """Chunk size rounded up to a multiple of the batch: every chunk starts a batch of a single run."""
    return max(batch, math.ceil(chunk_frames / batch) * batch)


def warmup_from(start: int, warmup: int, resets: Any, batch: int, restart_every: int = 0) -> int:
    """The first frame a chunk starting at ``start`` renders, for a warm-up of ``warmup`` frames.

    ``warmup`` frames before ``start`` (a multiple of ``batch``, so that the
    warm-up's batches are a single run's), not before frame 0; and where a
    frame of ``resets`` (the temporal stage starts afresh there:
    :func:`vidstyle.render.reset_frames`) lies in that window, from the batch
    that holds the last of them: the memory at ``start`` is then exactly a
    single run's.

    With ``restart_every`` (the temporal stage's carry is on: its memory
    starts again at every multiple of it, :attr:`vidstyle.temporal.TemporalSettings.carry`),
    the memory reaches back to the last of those however long ago, so the
    warm-up starts there, whatever ``warmup`` says (above 0): a chunk that
    starts on one needs none.

    >>> warmup_from(40, 16, {30}, 4), warmup_from(40, 16, (), 4), warmup_from(8, 16, (), 4)
    (28, 24, 0)
    >>> warmup_from(250, 16, (), 4, 240), warmup_from(240, 16, (), 4, 240), warmup_from(300, 16, {290}, 4, 240)
    (240, 240, 288)
    """
    if start <= 0 or warmup <= 0:
        return start
    first = max(0, start - warmup)
    if restart_every:
        first = (start - start % restart_every) // batch * batch
    inside = [r for r in resets if first < r <= start]
    if inside:
        first = max(first, max(inside) // batch * batch)
    return first


def _pinned_batch(model: ModelSettings) -> ModelSettings:
    """The settings with the batch made explicit: the job's, else what this machine's device would pick.

    Every chunk then batches its frames as a single run with that batch does,
    whichever worker renders it.
    """
    if model.batch is not None:
        return model
    from ..render import default_batch

    return replace(model, batch=default_batch(_device_type(model), model.size))


def _device_type(model: ModelSettings) -> str:
    """``"cuda"`` or ``"cpu"``: where the model would run on this (the planning) machine."""
    import torch

    cuda = model.device.startswith("cuda") or (model.device == "auto" and torch.cuda.is_available())
    return "cuda" if cuda else "cpu"


def _pinned_preset(spec: RenderSpec, height: int, width: int) -> EncodeSettings:
    """The encode settings with the preset made explicit (for frames of that size).

    Every chunk then encodes alike wherever it runs.
    """
    from ..render import default_encode, frame_scale
    from ..video import is_sequence_path

    # An image sequence has no preset (a sequence's default output is a sequence too).
    if spec.encode.preset is not None or any(p is not None and is_sequence_path(p) for p in (spec.input, spec.output)):
        return spec.encode

    return default_encode(spec.encode, _device_type(spec.model), frame_scale(height, width, spec.model.working_size,
                                                                          spec.model.quality))


def _plan_render(spec: RenderSpec, number: int, chunk_frames: int, first_index: int, folder: Path,
                 shots_cache: str | os.PathLike[str] | None, overwrite: bool = False) -> RenderPlan:
    from ..digest import InputIdentity, content_digest, file_sha256
    from ..masks import MaskLoader
    from ..shots import shots_for
    from ..timeline import timeline_for
    from ..video import FrameWriter, SequenceWriter, frame_timestamps, probe

    where = f"render {spec.name}"
    if not Path(spec.output).parent.is_dir():
        raise OutputError(f"{where}: cannot write {spec.output}: folder {Path(spec.output).parent} does not exist")
    info = probe(spec.input, spec.sequence)
    spec = replace(spec, model=_pinned_batch(spec.model), encode=_pinned_preset(spec, info.height, info.width))
    all_pts = frame_timestamps(info)
    n = len(all_pts)
    timeline = timeline_for(spec.style, info.fps)
    files = {} if spec.style.timeline is None else {str(spec.style.timeline): file_sha256(spec.style.timeline)}
    if spec.edit is not None:
        files[spec.edit] = file_sha256(spec.edit)
    masks = MaskLoader((info.height, info.width), info)
    for k in timeline.keyframes:
        for p in (*k.styles, *k.masks):
            files[str(p)] = content_digest(p)
        if k.masks:
            masks.load(k.masks, k.where)  # mask videos' lengths and every mask's shape: now, not on the farm
    shots = None
    if spec.edit is not None:
        # The editor's cut points, stored in the plan like detected ones.
        from ..editorial import read_edit

        shots = read_edit(spec.edit, info.fps).shot_list(info.fps, n)
    elif timeline.uses_shots or spec.steady.on:
        # Detected once here (or read from the cache) and stored in the plan:
        # every chunk, on any machine, places the keyframes on the same shots
        # and starts the temporal stage afresh at the same cuts.
        shots = shots_for(spec.input, device=spec.model.device, cache_dir=shots_cache, sequence=spec.sequence)
    resolved = timeline.resolve(info.fps, n, shots)  # fail now, not on the farm
    rid = f"r{number:02d}-{spec.name}"
    ext = Path(spec.output).suffix or ".mp4"
    (folder / rid).mkdir(parents=True, exist_ok=True)
    if spec.writes_sequence:
        # Chunks write the frames in place: the output's folder and format, and frames that are there, now.
        SequenceWriter(spec.output, info, spec.encode, overwrite=True, sequence=spec.sequence)
        ext = ".frames"  # a chunk is a run of frames of the output, named in its marker
    else:
        # Every encoder setting and the output container are checked here, cheaply.
        FrameWriter(folder / rid / f"check{ext}", info, spec.encode, overwrite=True)
    identity = asdict(InputIdentity.of(spec.input))
    shots_d = None if shots is None else shots.to_dict()
    batch = spec.model.batch or 1
    size = _aligned(chunk_frames, batch)
    warmup = restart = 0
    if spec.steady.on:
        temporal = spec.steady.temporal()
        restart = temporal.phase_period if temporal.carry > 0 else 0
        # The grid phase needs no long warm-up: a chunk follows the flow from the phase's last restart
        # before its warm-up (vidstyle.render._warm_up).
        warmup = math.ceil(spec.warmup / batch) * batch
    key_data = {"settings": spec.to_dict(), "input": identity, "files": files, "frames": n, "shots": shots_d,
                "chunk_frames": size, "warmup": warmup}
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True, default=str).encode()).hexdigest()
    from ..render import reset_frames

    resets = reset_frames(shots, resolved)
    chunks = []
    for k, start in enumerate(range(0, n, size)):
        stop = min(n, start + size)
        chunks.append(ChunkPlan(first_index + k, rid, k, start, stop, all_pts[start], f"{rid}/chunk-{k:04d}{ext}",
                                warmup_from(start, warmup, resets, batch, restart)))
    plan = RenderPlan(
        id=rid, spec=spec, key=key, input_identity=identity, files=files, frames=n,
        fps=f"{Fraction(info.fps).numerator}/{Fraction(info.fps).denominator}",
        time_base=f"{info.time_base.numerator}/{info.time_base.denominator}",
        shots=shots_d, chunk_frames=size, chunks=tuple(chunks), warmup=warmup,
    )
    if spec.writes_sequence and not overwrite:
        _check_sequence_output(plan, folder, info)
    return plan


def _check_sequence_output(render: RenderPlan, folder: Path, info: Any) -> None:
    """Refuse output frames that are there and are not a finished chunk of this render (chunks write in place)."""
    from ..video.sequence import output_frames

    for c in render.chunks:
        marker = folder / c.file.replace(".frames", ".done.json")
        try:
            done = json.loads(marker.read_text(encoding="utf-8")).get("key") == render.key
        except (OSError, ValueError, AttributeError):
            done = False
        if done:
            continue
        there = [p for p in output_frames(render.spec.output, info, c.start, c.stop) if p.exists()]
        if there:
            raise OutputError(
                f"render {render.spec.name}: {there[0]} already exists ({len(there)} frame{'s' if len(there) > 1 else ''} "
                f"of chunk {c.number}); allow overwriting to replace them", settings="overwrite",
            )


def make_plan(
    job: str | os.PathLike[str],
    folder: str | os.PathLike[str] | None = None,
    *,
    chunk_frames: int | None = None,
    shots_cache: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
) -> Plan:
    """Plan a job: probe every input, cut every render into chunks, write ``plan.json``.

    Args:
        job: the TOML job file.
        folder: the plan folder (default: ``<job>.plan`` beside the job file);
            created if needed. Chunks already rendered there are kept and reused
            when their render's settings and input are unchanged.
        chunk_frames: frames per chunk (default: the job's ``chunk_frames``, else
            240), rounded up to a multiple of each render's batch (see :attr:`Plan.notes`).
        shots_cache: the folder of cached shot lists (default: the user's cache folder).
        overwrite: a render whose output is an image sequence writes its frames
            in place, chunk by chunk; without ``overwrite``, frames already there
            (other than finished chunks of this plan) are an OutputError now.

    Raises:
        InputError, SettingsError, OutputError.
    """
    job = Path(job)
    specs, job_chunk = load_job(job)
    size = chunk_frames or job_chunk or DEFAULT_CHUNK_FRAMES
    if size < 1:
        raise SettingsError(f"chunk_frames must be at least 1, got {size}", settings="chunk_frames")
    folder = Path(folder) if folder is not None else job.with_suffix(".plan")
    if folder.exists() and not folder.is_dir():
        raise SettingsError(f"plan folder {folder} is a file")
    folder.mkdir(parents=True, exist_ok=True)
    renders: list[RenderPlan] = []
    first = 0
    for number, spec in enumerate(specs):
        r = _plan_render(spec, number, size, first, folder, shots_cache, overwrite)
        renders.append(r)
        first += len(r.chunks)
    plan = Plan(folder.resolve(), str(job.resolve()), size, tuple(renders))
    text = json.dumps(plan.to_dict(), indent=2)
    target = folder / PLAN_FILE
    if not target.exists() or target.read_text(encoding="utf-8") != text:
        with atomic_path(target, overwrite=True) as tmp:
            tmp.write_text(text, encoding="utf-8")
    return load_plan(folder)


def load_plan(folder: str | os.PathLike[str]) -> Plan:
    """Read a plan folder written by :func:`make_plan`.

    Raises:
        InputError: no plan there, or ``plan.json`` is damaged.
    """
    folder = Path(folder)
    target = folder / PLAN_FILE if folder.is_dir() or not folder.suffix else folder
    if target.name == PLAN_FILE:
        folder = target.parent
    if not target.is_file():
        raise InputError(f"no farm plan at {folder} (expected {PLAN_FILE}); make one with `vidstyle farm plan JOB`")
    try:
        data = json.loads(target.read_text(encoding="utf-8"))
        if data.get("format") != FORMAT:
            raise ValueError(f"format {data.get('format')!r} is not {FORMAT}")
        return Plan(folder.resolve(), data["job"], int(data["chunk_frames"]),
                    tuple(RenderPlan.from_dict(r) for r in data["renders"]))
    except (ValueError, KeyError, TypeError) as exc:
        raise InputError(f"{target} is not a vidstyle farm plan ({exc}); make it again with `vidstyle farm plan`") from None
