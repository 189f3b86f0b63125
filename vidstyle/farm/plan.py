"""Farm jobs and plans: which renders, cut into which chunks, with which settings.

A *job file* is TOML, like a timeline file::

    chunk_frames = 240            # optional; --chunk-frames overrides

    [defaults]                    # any render key, for every render
    size = 512
    codec = "libx264"
    crf = 18

    [[render]]
    input = "clips/walk.mp4"      # paths are relative to the job file
    output = "out/walk_styled.mp4"  # default: <input>_styled.mp4 beside it
    style = "starry.jpg"          # or styles = [...], weights, alpha, preserve_color, masks
    # timeline = "walk.toml"      # instead of the style keys

A *plan* is the job resolved against its inputs, written as ``plan.json`` in a
plan folder: absolute paths, every setting explicit, each input's identity and
exact frame count, the shot list when a timeline places keyframes by shot, and
the chunks (half-open frame ranges ``[start, stop)`` with the input timestamp of
their first frame). It is plain JSON so any farm scheduler can read it.

What a chunk needs to know from before its start is all in the plan or in the
input file: the whole video's frame count and rate (a timeline is resolved
against the whole video, never the chunk), the first frame's timestamp (frame
times count from it) and the shot list (shot numbers count from the first
frame). The style schedule is then a pure function of the frame, so a frame
gets the same look whichever chunk holds it. Chunk boundaries fall on multiples
of the batch size so every frame is stylized in the same batch, with the same
neighbours, as in a single run: the pixels are then bit for bit the same on the
same device.
"""
from __future__ import annotations

import hashlib
import json
import math
import os
import re
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

from ..errors import InputError, OutputError, SettingsError
from ..outputs import atomic_path
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
    "file_sha256",
    "DEFAULT_CHUNK_FRAMES",
]

FORMAT = "vidstyle.farm-plan/1"
PLAN_FILE = "plan.json"
DEFAULT_CHUNK_FRAMES = 240
# Without an explicit batch, each device picks its own (see render.default_batch):
# 1, 2, 4 or 16 frames, all dividing 16; chunks starting on multiples of 16
# keep every batch the same as in a single run.
_BATCH_ALIGN = 16

_RENDER_KEYS = {
    "name": str, "input": str, "output": str, "style": str, "styles": list, "weights": list, "alpha": (int, float),
    "preserve_color": (bool, str), "masks": list, "timeline": str, "size": int, "device": str, "batch": int,
    "codec": str, "crf": int, "preset": str, "pix_fmt": str,
}
_JOB_KEYS = {"chunk_frames", "defaults", "render"}


@dataclass(frozen=True)
class RenderSpec:
    """One render of a job, with paths made absolute and defaults filled in."""

    name: str
    input: str
    output: str
    styles: tuple[str, ...] = ()
    weights: tuple[float, ...] | None = None
    alpha: float = 1.0
    preserve_color: bool | str = False
    masks: tuple[str, ...] = ()
    timeline: str | None = None
    size: int = 512
    device: str = "auto"
    batch: int | None = None
    codec: str = "libx264"
    crf: int = 18
    preset: str = "medium"
    pix_fmt: str | None = None

    def render_kwargs(self) -> dict[str, Any]:
        """Keyword arguments of :func:`vidstyle.render.stylize_video` (device/size aside)."""
        common = dict(batch=self.batch, codec=self.codec, crf=self.crf, preset=self.preset, pix_fmt=self.pix_fmt)
        if self.timeline is not None:
            return dict(timeline=self.timeline, **common)
        return dict(
            styles=list(self.styles), weights=None if self.weights is None else list(self.weights),
            alpha=self.alpha, preserve_color=self.preserve_color, masks=list(self.masks) or None, **common,
        )


@dataclass(frozen=True)
class ChunkPlan:
    """Frames ``[start, stop)`` of one render; ``first_pts`` is the input timestamp of ``start``."""

    index: int  # in the whole plan (what ``farm render --chunk K`` takes)
    render: str  # the render's id
    number: int  # within the render, from 0
    start: int
    stop: int
    first_pts: int
    file: str  # relative to the plan folder

    @property
    def frames(self) -> int:
        return self.stop - self.start

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
    chunks: tuple[ChunkPlan, ...]

    def to_dict(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "settings": asdict(self.spec),
            "key": self.key,
            "input_identity": self.input_identity,
            "files": self.files,
            "frames": self.frames,
            "fps": self.fps,
            "time_base": self.time_base,
            "shots": self.shots,
            "chunks": [
                {"index": c.index, "number": c.number, "start": c.start, "stop": c.stop,
                 "first_pts": c.first_pts, "file": c.file}
                for c in self.chunks
            ],
        }

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> RenderPlan:
        s = dict(d["settings"])
        for k in ("styles", "masks"):
            s[k] = tuple(s.get(k) or ())
        if s.get("weights") is not None:
            s["weights"] = tuple(s["weights"])
        return cls(
            id=d["id"], spec=RenderSpec(**s), key=d["key"], input_identity=d["input_identity"],
            files=dict(d["files"]), frames=int(d["frames"]), fps=d["fps"], time_base=d["time_base"],
            shots=d.get("shots"),
            chunks=tuple(
                ChunkPlan(int(c["index"]), d["id"], int(c["number"]), int(c["start"]), int(c["stop"]),
                          int(c["first_pts"]), c["file"])
                for c in d["chunks"]
            ),
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
                f"the plan has {len(self.renders)} renders: say which with --render "
                f"({', '.join(r.id for r in self.renders)})"
            )
        for r in self.renders:
            if r.id == render_id or r.spec.name == render_id:
                return r
        raise SettingsError(f"no render {render_id!r} in the plan; it has: {', '.join(r.id for r in self.renders)}")

    def chunk(self, index: int) -> ChunkPlan:
        chunks = self.chunks
        if not 0 <= index < len(chunks):
            raise SettingsError(f"chunk {index} is not in the plan: it has chunks 0-{len(chunks) - 1}")
        return chunks[index]

    def chunks_in(self, render_id: str | None, first: int, last: int) -> list[ChunkPlan]:
        """The chunks of a render covering frames ``first..last`` (inclusive, as farms pass them)."""
        r = self.render(render_id)
        if last < first:
            raise SettingsError(f"frame range {first}-{last} is empty")
        picked = [c for c in r.chunks if c.start <= last and c.stop > first]
        if not picked or picked[0].start != first or picked[-1].stop - 1 != min(last, r.frames - 1):
            bounds = ", ".join(f"{c.start}-{c.stop - 1}" for c in r.chunks[:6])
            raise SettingsError(
                f"frames {first}-{last} of {r.id} do not match the plan's chunks ({bounds}{', ...' if len(r.chunks) > 6 else ''}): "
                "give the scheduler the same chunk size as --chunk-frames, or use --chunk K"
            )
        return picked

    def path(self, chunk: ChunkPlan) -> Path:
        return self.folder / chunk.file

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
    from ..video import default_output_path

    inp = _abs(d["input"], base)
    styles = list(d.get("styles") or ())
    if "style" in d:
        if styles:
            raise SettingsError(f"{where}: give style or styles, not both")
        styles = [d["style"]]
    timeline = d.get("timeline")
    if timeline is not None:
        if styles or "weights" in d or "masks" in d or "alpha" in d or "preserve_color" in d:
            raise SettingsError(f"{where}: a timeline sets styles, weights, alpha, colour and masks per keyframe: leave those keys out")
    elif not styles:
        raise SettingsError(f"{where}: needs style = \"image\" (or styles = [...], or timeline = \"file.toml\")")
    codec = d.get("codec", "libx264")
    output = _abs(d["output"], base) if "output" in d else str(default_output_path(inp, codec=codec))
    weights = d.get("weights")
    name = d.get("name") or Path(inp).stem
    if not re.fullmatch(r"[A-Za-z0-9._-]+", name):
        raise SettingsError(f"{where}: name {name!r} may only hold letters, digits, '.', '_' and '-'")
    return RenderSpec(
        name=name,
        input=inp,
        output=output,
        styles=tuple(_abs(s, base) for s in styles),
        weights=None if weights is None else tuple(float(w) for w in weights),
        alpha=float(d.get("alpha", 1.0)),
        preserve_color=d.get("preserve_color", False),
        masks=tuple(_abs(m, base) for m in d.get("masks", ())),
        timeline=None if timeline is None else _abs(timeline, base),
        size=int(d.get("size", 512)),
        device=d.get("device", "auto"),
        batch=d.get("batch"),
        codec=codec,
        crf=int(d.get("crf", 18)),
        preset=d.get("preset", "medium"),
        pix_fmt=d.get("pix_fmt"),
    )


# --------------------------------------------------------------------------- #
# Planning
# --------------------------------------------------------------------------- #


def file_sha256(path: str | os.PathLike[str]) -> str:
    h = hashlib.sha256()
    try:
        with open(path, "rb") as f:
            for block in iter(lambda: f.read(1 << 20), b""):
                h.update(block)
    except FileNotFoundError:
        raise InputError(f"{path}: no such file") from None
    except OSError as exc:
        raise InputError(f"cannot read {path}: {exc.strerror or exc}") from None
    return h.hexdigest()


def _aligned(chunk_frames: int, batch: int | None) -> int:
    align = batch or _BATCH_ALIGN
    return max(align, math.ceil(chunk_frames / align) * align)


def _plan_render(spec: RenderSpec, number: int, chunk_frames: int, first_index: int, folder: Path) -> RenderPlan:
    from ..shots import InputIdentity, shots_for
    from ..stylize import check_alpha, check_weights
    from ..timeline import load_timeline
    from ..video import FrameWriter, probe, resolve_range

    where = f"render {spec.name}"
    if spec.batch is not None and spec.batch < 1:
        raise SettingsError(f"{where}: batch must be at least 1, got {spec.batch}")
    if spec.size < 64:
        raise SettingsError(f"{where}: size must be at least 64, got {spec.size}")
    check_alpha(spec.alpha)
    if spec.timeline is None and spec.weights is not None:
        check_weights(spec.weights, len(spec.styles))
    if not Path(spec.output).parent.is_dir():
        raise OutputError(f"{where}: cannot write {spec.output}: folder {Path(spec.output).parent} does not exist")
    files: dict[str, str] = {}
    shots = None
    info = probe(spec.input)
    rng, all_pts = resolve_range(info, frames=(0, 1 << 62))
    n = rng.stop or len(all_pts)
    if spec.timeline is not None:
        tl = load_timeline(spec.timeline)
        files[spec.timeline] = file_sha256(spec.timeline)
        for p in tl.style_paths:
            files[str(p)] = file_sha256(p)
        for k in tl.keyframes:
            for m in k.masks:
                files[str(m)] = file_sha256(m)
        if tl.uses_shots:
            # Detected once here (or read from the cache) and stored in the plan:
            # every chunk, on any machine, places the keyframes on the same shots.
            shots = shots_for(spec.input, device=spec.device)
        tl.resolve(info.fps, n, shots)  # fail now, not on the farm
    else:
        for p in (*spec.styles, *spec.masks):
            files[p] = file_sha256(p)
    rid = f"r{number:02d}-{spec.name}"
    ext = Path(spec.output).suffix or ".mp4"
    # Every encoder setting and the output container are checked here, cheaply.
    (folder / rid).mkdir(parents=True, exist_ok=True)
    FrameWriter(folder / rid / f"check{ext}", info, codec=spec.codec, crf=spec.crf, preset=spec.preset,
                pix_fmt=spec.pix_fmt, overwrite=True)
    identity = asdict(InputIdentity.of(spec.input))
    shots_d = None if shots is None else shots.to_dict()
    size = _aligned(chunk_frames, spec.batch)
    key_data = {"settings": asdict(spec), "input": identity, "files": files, "frames": n, "shots": shots_d,
                "chunk_frames": size}
    key = hashlib.sha256(json.dumps(key_data, sort_keys=True, default=str).encode()).hexdigest()
    chunks = []
    for k, start in enumerate(range(0, n, size)):
        stop = min(n, start + size)
        chunks.append(ChunkPlan(first_index + k, rid, k, start, stop, all_pts[start], f"{rid}/chunk-{k:04d}{ext}"))
    return RenderPlan(
        id=rid, spec=spec, key=key, input_identity=identity, files=files, frames=n,
        fps=f"{Fraction(info.fps).numerator}/{Fraction(info.fps).denominator}",
        time_base=f"{info.time_base.numerator}/{info.time_base.denominator}",
        shots=shots_d, chunks=tuple(chunks),
    )


def make_plan(
    job: str | os.PathLike[str],
    folder: str | os.PathLike[str] | None = None,
    *,
    chunk_frames: int | None = None,
) -> Plan:
    """Plan a job: probe every input, cut every render into chunks, write ``plan.json``.

    Args:
        job: the TOML job file.
        folder: the plan folder (default: ``<job>.plan`` beside the job file);
            created if needed. Chunks already rendered there are kept and reused
            when their render's settings and input are unchanged.
        chunk_frames: frames per chunk (default: the job's ``chunk_frames``, else
            240), rounded up to a multiple of the batch size.

    Raises:
        InputError, SettingsError, OutputError.
    """
    job = Path(job)
    specs, job_chunk = load_job(job)
    size = chunk_frames or job_chunk or DEFAULT_CHUNK_FRAMES
    if size < 1:
        raise SettingsError(f"--chunk-frames must be at least 1, got {size}")
    folder = Path(folder) if folder is not None else job.with_suffix(".plan")
    if folder.exists() and not folder.is_dir():
        raise SettingsError(f"plan folder {folder} is a file")
    folder.mkdir(parents=True, exist_ok=True)
    renders: list[RenderPlan] = []
    first = 0
    for number, spec in enumerate(specs):
        r = _plan_render(spec, number, size, first, folder)
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
