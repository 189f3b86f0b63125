"""Shot (cut) detection: where a video's hard cuts are, as plain data.

A timeline may say "shot 3 gets this style"; for that the shot list has to be
known before the frames it governs are rendered, and a farm chunk must see
the same list as a single render. So shots are found by one decode-only pass
at low resolution (:func:`detect_shots`), kept as a frozen :class:`ShotList`,
cached in the user's cache folder (:func:`shots_for`) and carried in a farm plan.

How a cut is found (all batched on the device the tensors are on):

1. Each frame is decoded straight to ``analysis_size`` pixels on its longer
   side (FFmpeg's area scaler) and turned into HSV with kornia.
2. :func:`cut_scores` gives every frame its distance from the previous one:
   half the mean of (a) the histogram distance of hue (weighted by
   saturation), saturation and value -- what the frame is made of, blind to
   where things move -- and (b) the mean absolute RGB difference of a 4x
   smaller thumbnail -- where things are, which catches cuts between shots
   of similar colours. Both lie in [0, 1], so the score does too.
3. :func:`pick_cuts` keeps a frame as a cut when its score is at least
   ``threshold`` (an absolute floor against noise and flicker) *and*
   ``adaptive`` times the mean score of its ``window`` neighbours on each side
   (as PySceneDetect's AdaptiveDetector does: fast motion raises every score,
   a cut stands out from its neighbours), or when it is at least
   ``hard_threshold`` whatever the neighbours (a cut inside fast motion).
   Candidates are then taken strongest first, and one closer than
   ``min_shot_frames`` to the start, the end or a stronger cut is dropped: no
   shot is shorter than that.

Gradual transitions are not cuts. A dissolve or a fade spreads its change
over many frames, each a small step that does not stand out from its
neighbours, so the frames of a dissolve belong to the shots on either side
and the shot count does not change. A timeline that needs a boundary inside a
dissolve gives it by frame or time instead.
"""
from __future__ import annotations

import bisect
import hashlib
import json
import math
import os
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F

from .digest import InputIdentity
from .errors import InputError, OutputError, SettingsError
from .video.ranges import format_timecode

__all__ = [
    "ShotSettings",
    "ShotList",
    "cut_scores",
    "pick_cuts",
    "detect_shots",
    "shots_for",
    "cache_dir",
    "cache_path",
]

FORMAT = "vidstyle.shots/1"
METHOD = "hsv-hist+thumb/1"  # bump when the scores change, so old caches are not reused
HIST_BINS = 32
_EPS = 1e-4


# --------------------------------------------------------------------------- #
# Plain data
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class ShotSettings:
    """How shots are detected; part of a cache's key.

    ``min_shot_frames`` None means half a second at the video's rate (at least
    one frame); a :class:`ShotList` always holds the resolved number.
    """

    analysis_size: int = 128
    threshold: float = 0.015
    adaptive: float = 3.0
    hard_threshold: float = 0.35
    window: int = 2
    min_shot_frames: int | None = None
    method: str = METHOD

    def check(self) -> ShotSettings:
        if not 16 <= self.analysis_size <= 1024:
            raise SettingsError(f"analysis size must be 16-1024 pixels, got {self.analysis_size}")
        if not 0 < self.threshold < 1:
            raise SettingsError(f"shot threshold must be between 0 and 1 (default 0.015), got {self.threshold}")
        if self.adaptive < 1:
            raise SettingsError(f"adaptive ratio must be at least 1 (default 3), got {self.adaptive}")
        if not self.threshold <= self.hard_threshold <= 1:
            raise SettingsError(
                f"hard threshold must lie between the threshold ({self.threshold}) and 1, got {self.hard_threshold}"
            )
        if self.window < 1:
            raise SettingsError(f"adaptive window must be at least 1 frame, got {self.window}")
        if self.min_shot_frames is not None and self.min_shot_frames < 1:
            raise SettingsError(f"minimum shot length must be at least 1 frame, got {self.min_shot_frames}")
        return self

    def resolved(self, fps: Fraction) -> ShotSettings:
        """These settings with ``min_shot_frames`` made a number for ``fps``."""
        if self.min_shot_frames is not None:
            return self
        return ShotSettings(**{**asdict(self), "min_shot_frames": max(1, round(Fraction(fps) / 2))})


@dataclass(frozen=True)
class ShotList:
    """The shots of one video: where each one after the first begins.

    Frames are 0-based indices of the decoded video; shots are numbered from
    1. A shot's frames are the half-open ``[start, end)``, so ``vidstyle run
    --frames START:END`` renders exactly one shot. Times are seconds from the
    first frame, taken from the frames' timestamps (right for variable frame
    rate too).

    Example:
        >>> s = ShotList(cuts=(10, 25), frames=40, fps=Fraction(25), cut_times=(0.4, 1.0), duration=1.6)
        >>> s.shots()
        [(0, 10), (10, 25), (25, 40)]
        >>> s.shot_of(10), s.start_of(3)
        (2, 25)
    """

    cuts: tuple[int, ...]
    frames: int
    fps: Fraction
    cut_times: tuple[float, ...]
    duration: float
    settings: ShotSettings = field(default_factory=ShotSettings)
    input: InputIdentity | None = None

    def __post_init__(self) -> None:
        if len(self.cut_times) != len(self.cuts):
            raise ValueError("cut_times must give one time per cut")
        if any(not 0 < c < self.frames for c in self.cuts) or list(self.cuts) != sorted(set(self.cuts)):
            raise ValueError(f"cuts must be increasing frame indices inside 1..{self.frames - 1}")

    @property
    def count(self) -> int:
        """How many shots (one more than cuts)."""
        return len(self.cuts) + 1

    def shots(self) -> list[tuple[int, int]]:
        """Half-open ``(start, end)`` frame pairs, one per shot, in order."""
        bounds = [0, *self.cuts, self.frames]
        return list(zip(bounds[:-1], bounds[1:]))

    def times(self) -> list[tuple[float, float]]:
        """``(start, end)`` seconds of each shot; a shot ends where the next begins."""
        bounds = [0.0, *self.cut_times, self.duration]
        return list(zip(bounds[:-1], bounds[1:]))

    def shot_of(self, frame: int) -> int:
        """The 1-based number of the shot holding ``frame``."""
        if not 0 <= frame < self.frames:
            raise SettingsError(f"frame {frame} is outside the video (frames 0-{self.frames - 1})")
        return bisect.bisect_right(self.cuts, frame) + 1

    def start_of(self, shot: int) -> int:
        """The first frame of shot number ``shot`` (1-based)."""
        if not 1 <= shot <= self.count:
            raise SettingsError(
                f"shot {shot} does not exist: the video has {self.count} shot{'s' if self.count != 1 else ''}"
            )
        return 0 if shot == 1 else self.cuts[shot - 2]

    def end_of(self, shot: int) -> int:
        """One past the last frame of shot ``shot`` (1-based)."""
        self.start_of(shot)
        return self.frames if shot == self.count else self.cuts[shot - 1]

    def rows(self) -> list[dict]:
        """One dict per shot, as the CLI and :meth:`to_json` list them."""
        out = []
        for n, ((a, b), (t0, t1)) in enumerate(zip(self.shots(), self.times()), start=1):
            out.append({
                "shot": n,
                "start_frame": a,
                "end_frame": b,
                "frames": b - a,
                "start_time": round(t0, 6),
                "end_time": round(t1, 6),
                "start_timecode": format_timecode(t0),
                "end_timecode": format_timecode(t1),
                "duration": round(t1 - t0, 6),
            })
        return out

    def to_dict(self) -> dict:
        return {
            "format": FORMAT,
            "frames": self.frames,
            "fps": f"{self.fps.numerator}/{self.fps.denominator}",
            "duration": self.duration,
            "cuts": list(self.cuts),
            "cut_times": list(self.cut_times),
            "settings": asdict(self.settings),
            "input": None if self.input is None else asdict(self.input),
            "shots": self.rows(),  # derived, for readers; ignored by from_json
        }

    def to_json(self, indent: int | None = 2) -> str:
        return json.dumps(self.to_dict(), indent=indent)

    @classmethod
    def from_dict(cls, data: dict) -> ShotList:
        try:
            if data.get("format") != FORMAT:
                raise ValueError(f"format {data.get('format')!r} is not {FORMAT}")
            return cls(
                cuts=tuple(int(c) for c in data["cuts"]),
                frames=int(data["frames"]),
                fps=Fraction(data["fps"]),
                cut_times=tuple(float(t) for t in data["cut_times"]),
                duration=float(data["duration"]),
                settings=ShotSettings(**data["settings"]),
                input=None if data.get("input") is None else InputIdentity(**data["input"]),
            )
        except (KeyError, TypeError, ValueError, ZeroDivisionError) as exc:
            raise InputError(f"not a vidstyle shot list ({exc})") from None

    @classmethod
    def from_json(cls, text: str) -> ShotList:
        try:
            data = json.loads(text)
        except json.JSONDecodeError as exc:
            raise InputError(f"not a vidstyle shot list (bad JSON: {exc})") from None
        if not isinstance(data, dict):
            raise InputError("not a vidstyle shot list (expected a JSON object)")
        return cls.from_dict(data)


# --------------------------------------------------------------------------- #
# The maths: pure functions on tensors
# --------------------------------------------------------------------------- #


def _histograms(rgb: torch.Tensor, bins: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Normalised hue, saturation and value histograms, and how colourful each frame is.

    Hue is weighted by saturation x value and saturation by value: the hue of
    a grey or dark pixel, and the saturation of a dark one, are noise.

    Shape:
        ``(B, 3, h, w)`` -> ``(B, 3, bins)`` (rows sum to 1, or 0 for a frame
        with no colour) and ``(B,)`` mean saturation x value.
    """
    import kornia.color

    hsv = kornia.color.rgb_to_hsv(rgb)  # h in [0, 2pi], s and v in [0, 1]
    b = rgb.shape[0]
    h, s, v = hsv[:, 0].flatten(1) / (2 * math.pi), hsv[:, 1].flatten(1), hsv[:, 2].flatten(1)
    norm = torch.stack([h, s, v], 1)  # (B, 3, N)
    idx = (norm * bins).long().clamp_(0, bins - 1)
    weights = torch.stack([s * v, v, torch.ones_like(v)], 1).float()
    hist = torch.zeros(b, 3, bins, device=rgb.device, dtype=torch.float32)
    hist.scatter_add_(2, idx, weights)
    return hist / hist.sum(2, keepdim=True).clamp_min(_EPS), (s * v).mean(1)


def cut_scores(frames: torch.Tensor, *, bins: int = HIST_BINS) -> torch.Tensor:
    """How much each frame differs from the one before it, in [0, 1].

    The mean of a histogram distance and the mean absolute RGB difference of
    4x-smaller thumbnails. The histogram distance averages half the L1
    distance of the hue histograms (scaled down when either frame has almost
    no colour), the same of the saturation histograms, and the earth mover's
    distance of the value histograms (brightness that moves a little scores a
    little, so a fade is a run of small steps). Frame 0 has no predecessor and
    scores 0. Runs on whatever device ``frames`` is on.

    Args:
        frames: consecutive frames, RGB in [0, 1].
        bins: histogram bins per channel.

    Shape:
        ``(B, 3, h, w)`` -> ``(B,)`` float32, on ``frames.device``.

    Example:
        >>> x = torch.zeros(3, 3, 16, 16); x[2] = 1.0
        >>> [round(v, 3) for v in cut_scores(x).tolist()]  # black to white: only value and pixels change
        [0.0, 0.0, 0.745]
    """
    if frames.ndim != 4 or frames.shape[1] != 3:
        raise ValueError(f"frames must be (B, 3, h, w); got {tuple(frames.shape)}")
    frames = frames.float()
    out = torch.zeros(frames.shape[0], device=frames.device)
    if frames.shape[0] < 2:
        return out
    hist, colour = _histograms(frames, bins)
    l1 = 0.5 * (hist[1:, :2] - hist[:-1, :2]).abs().sum(2)  # (B-1, 2): hue, saturation
    colourful = (4 * torch.minimum(colour[1:], colour[:-1])).clamp(max=1.0)
    cdf = hist[:, 2].cumsum(1)
    emd = (cdf[1:] - cdf[:-1]).abs().mean(1)
    hist_d = (l1[:, 0] * colourful + l1[:, 1] + emd) / 3
    h, w = frames.shape[-2:]
    thumb = F.adaptive_avg_pool2d(frames, (max(1, h // 4), max(1, w // 4)))
    pix_d = (thumb[1:] - thumb[:-1]).abs().mean((1, 2, 3))
    out[1:] = 0.5 * (hist_d + pix_d)
    return out


def pick_cuts(scores: Sequence[float] | torch.Tensor, settings: ShotSettings) -> tuple[int, ...]:
    """Choose the cuts from per-frame scores (see the module docstring).

    ``settings.min_shot_frames`` must be resolved (a number).

    >>> pick_cuts([0, .01, .02, .5, .01, .02, .01], ShotSettings(min_shot_frames=2))
    (3,)
    """
    s = torch.as_tensor(scores, dtype=torch.float64).cpu()
    n = s.numel()
    min_len = settings.min_shot_frames
    if min_len is None:
        raise ValueError("pick_cuts needs settings with min_shot_frames resolved (see ShotSettings.resolved)")
    if n < 2:
        return ()
    s[0] = 0.0
    # Mean of the neighbours' scores, the frame itself left out (frame 0 has no score).
    w = settings.window
    padded = F.pad(s[None, None, 1:], (w, w))
    ones = F.pad(torch.ones(1, 1, n - 1, dtype=torch.float64), (w, w))
    k = torch.ones(1, 1, 2 * w + 1, dtype=torch.float64)
    total = F.conv1d(padded, k)[0, 0] - s[1:]
    count = (F.conv1d(ones, k)[0, 0] - 1).clamp_min(1)
    neigh = torch.cat([torch.zeros(1, dtype=torch.float64), total / count])
    candidate = (s >= settings.threshold) & ((s >= settings.adaptive * (neigh + _EPS)) | (s >= settings.hard_threshold))
    candidate[0] = False
    order = sorted(torch.nonzero(candidate).flatten().tolist(), key=lambda i: (-float(s[i]), i))
    chosen: list[int] = []
    for i in order:
        if i < min_len or n - i < min_len:
            continue
        j = bisect.bisect_left(chosen, i)
        if j > 0 and i - chosen[j - 1] < min_len:
            continue
        if j < len(chosen) and chosen[j] - i < min_len:
            continue
        chosen.insert(j, i)
    return tuple(chosen)


# --------------------------------------------------------------------------- #
# The decode-only pass
# --------------------------------------------------------------------------- #


def _analysis_shape(width: int, height: int, size: int) -> tuple[int, int]:
    scale = min(1.0, size / max(width, height))
    return max(2, round(width * scale / 2) * 2), max(2, round(height * scale / 2) * 2)


def detect_shots(
    path: str | os.PathLike[str],
    *,
    device: str | torch.device = "auto",
    settings: ShotSettings | None = None,
    batch_size: int = 64,
    progress: Callable[[int, int | None], None] | None = None,
    sequence: Any = None,
) -> ShotList:
    """Find the hard cuts of a video with one low-resolution decode-only pass.

    Frames stream through in batches (memory stays flat); only one score per
    frame is kept.

    Args:
        path: the video.
        device: where the scores are computed: ``"auto"`` (CUDA when present),
            ``"cpu"`` or ``"cuda"``.
        settings: detector settings (defaults: :class:`ShotSettings`).
        batch_size: frames per batch.
        progress: called as ``progress(frames_done, frames_expected_or_None)``.
        sequence: the frame rate and colour of an image sequence
            (:class:`~vidstyle.settings.SequenceSettings`; None: the defaults).

    Returns:
        A :class:`ShotList` carrying the resolved settings and the input's identity.

    Raises:
        InputError: the file is missing or not a video.
        RenderError: a frame failed to decode.
    """
    from .stylize import resolve_device  # lazy: stylize imports much more than we need
    from .video import FrameReader, probe

    settings = (settings or ShotSettings()).check()
    path = Path(path)
    identity = InputIdentity.of(path)
    info = probe(path, *(() if sequence is None else (sequence,)))
    settings = settings.resolved(info.fps)
    dev = resolve_device(device)
    scale = _analysis_shape(info.width, info.height, settings.analysis_size)
    scores: list[torch.Tensor] = []
    times: list[float] = []
    prev: torch.Tensor | None = None
    with FrameReader(path, info=info, scale_to=scale) as reader:
        expected = reader.expected_frames
        with torch.inference_mode():
            for batch in reader.iter_batches(batch_size):
                rgb = batch.rgb.to(dev, non_blocking=True)
                if prev is None:
                    scores.append(cut_scores(rgb))
                else:
                    scores.append(cut_scores(torch.cat([prev, rgb]))[1:])
                prev = rgb[-1:]
                times.extend(batch.times)
                if progress is not None:
                    progress(len(times), expected)
    all_scores = torch.cat(scores).cpu() if scores else torch.zeros(0)
    n = len(times)
    if n == 0:
        raise InputError(f"{path} has a video stream but no frame decodes")
    cuts = pick_cuts(all_scores, settings)
    step = times[-1] - times[-2] if n > 1 else float(1 / info.fps)
    return ShotList(
        cuts=cuts,
        frames=n,
        fps=info.fps,
        cut_times=tuple(round(times[c], 6) for c in cuts),
        duration=round(times[-1] + max(step, 0.0), 6),
        settings=settings,
        input=identity,
    )


# --------------------------------------------------------------------------- #
# The cache
# --------------------------------------------------------------------------- #


def cache_dir() -> Path:
    """The user's folder for shot lists: ``$XDG_CACHE_HOME/vidstyle/shots`` (``~/.cache/vidstyle/shots``).

    Never beside the input: footage folders (and a repository's examples)
    stay as they were.
    """
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "vidstyle" / "shots"


def cache_path(path: str | os.PathLike[str], folder: str | os.PathLike[str] | None = None) -> Path:
    """Where the shot list of the video ``path`` is cached, in ``folder`` (default :func:`cache_dir`).

    One file per video, named by a hash of its absolute path and its name.
    """
    path = Path(path)
    key = hashlib.sha256(str(path.resolve()).encode()).hexdigest()[:16]
    return Path(folder or cache_dir()) / f"{key}-{path.name}.shots.json"


def _read_cache(candidate: Path, identity: InputIdentity, settings: ShotSettings) -> ShotList | None:
    try:
        cached = ShotList.from_json(candidate.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, InputError):
        return None
    if cached.input != identity or cached.settings != settings:
        return None
    return cached


def _write_cache(shots: ShotList, dest: Path) -> None:
    from .outputs import atomic_path

    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(dest, overwrite=True) as tmp:
            tmp.write_text(shots.to_json(), encoding="utf-8")
    except (OutputError, OSError):
        pass  # a cache that cannot be written is no cache, not an error


def shots_for(
    path: str | os.PathLike[str],
    *,
    device: str | torch.device = "auto",
    settings: ShotSettings | None = None,
    cache: bool = True,
    cache_dir: str | os.PathLike[str] | None = None,
    progress: Callable[[int, int | None], None] | None = None,
    sequence: Any = None,
) -> ShotList:
    """The shot list of a video, from the cache when it still fits, else detected and cached.

    The cache is a file in ``cache_dir`` (default: the user's cache folder,
    :func:`cache_dir`; see :func:`cache_path`); where it cannot be written,
    there is none. A cached list is used only when the input's identity (size,
    modification time, sha256 of its ends) and the settings are the same;
    anything else (a changed file, other settings, a damaged cache) means
    detecting again. Nothing is printed either way.

    Args are those of :func:`detect_shots`; ``cache=False`` neither reads nor writes a cache.
    A sequence's list is cached with its rate: another rate means other times.
    """
    from .video import probe

    settings = (settings or ShotSettings()).check()
    if not cache:
        return detect_shots(path, device=device, settings=settings, progress=progress, sequence=sequence)
    path = Path(path)
    identity = InputIdentity.of(path)
    fps = probe(path, *(() if sequence is None else (sequence,))).fps
    wanted = settings.resolved(fps)
    place = cache_path(path, cache_dir)
    hit = _read_cache(place, identity, wanted)
    if hit is not None and hit.fps == fps:
        return hit
    shots = detect_shots(path, device=device, settings=wanted, progress=progress, sequence=sequence)
    _write_cache(shots, place)
    return shots
