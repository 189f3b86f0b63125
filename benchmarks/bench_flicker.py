"""Flicker of stylized video: the warping error against the source's own, and what steadying costs.

    pip install -e '.[bench]'     # OpenCV's DIS flow, for the measure (not a runtime dependency)
    python benchmarks/bench_flicker.py --size 256 --frames 30              # the temporal study
    python benchmarks/bench_flicker.py --colour --size 512 --frames 30     # colour preservation on vtest_5s
    python benchmarks/bench_flicker.py --frames 24 --methods off "default: ..." --split   # where the flicker sits
    python benchmarks/bench_flicker.py --long --frames 144 --windows 24 --methods off "default: ..."   # as memory ages

**The measure.** Dense optical flow of the *source* (OpenCV's DIS, preset
medium, on the luma at the clip's own size) both ways between frames t and
t+1; a forward-backward consistency check (:func:`vidstyle.temporal.consistent`:
Sundaram et al.'s test, plus "lands inside the frame") marks occluded and
unreliable pixels. The warping error of a sequence is the mean absolute
difference between frame t+1 and frame t warped by the flow, over the valid
pixels and the three channels, averaged over the pairs (x 255). On the source
frames this is the *floor* (codec noise, light, what the flow misses); a
stylized sequence is reported as its ratio to the floor. Pairs that straddle
a cut (the clip's known cuts) are left out.

**Style kept.** For every ``--eval-every``-th frame (less a shot's first
frame, which every method draws as ``off`` does), at the network's working
size: the *structure* score (mean squared difference of the instance-
normalised relu4_1 features of the result and of the source frame: 0 = the
same layout) and the *style fraction* (style loss of the result over that of
the source frame, against the style image's statistics: 1 = no move towards
the style, 0 = the style's statistics reached); both are
``training/evaluate.py``'s, imported from there (the product does not need them).
``--margin M`` takes both without M pixels of every side: a frame stylized on
its own is drawn with padded edges, and the scores see those edges as much as
the inside (``benchmarks/bench_glued.py`` measures how much that weighs).

**Temporal study** (default). Four clips (``examples/media/README.md``): a
fixed camera (``vtest_5s.mp4``), a moving camera (``pan_dune.mp4``), a hard
cut (``cut_street_bunny.mp4``, the frames around its cut) and a fast zoom
(``zoom_dune.mp4``: the camera move that the grid phase lock cannot follow).
Each method is a :class:`vidstyle.temporal.TemporalSettings` driven here the way a render loop
will drive :class:`vidstyle.temporal.Temporal` (phase 2 wires it into
``vidstyle run``): the frames go through the shipped model in batches, the
encoder's features are computed once per clip and shared by all methods (the
path is checked against :meth:`vidstyle.stylize.Stylizer.stylize` first), the
cuts come from :func:`vidstyle.shots.detect_shots`. The cost column times the
temporal calls alone (flow, warps, blends, the statistics, and AdaIN itself,
which the model would do anyway) next to the model's encoder + decoder in the
same process. At the cut, "trace" is the mean absolute difference (8-bit
levels) between a method's first frame of the new shot and the unsteadied one:
0 means nothing of the previous shot came through.

**As the memory ages** (``--long``, ``--windows W``): two shots of 144 frames
(``vtest_long.mp4``, ``pan_dune_long.mp4``) instead of the short clips,
and every score again per window of W frames. A method's memory starts empty at
every shot and builds up over its frames; a short clip sees mostly young
memory, and what a copy that never forgets costs grows with its age.

**Where the flicker sits** (``--split``): each sequence's warping error
again, its valid pixels sorted into :data:`BANDS` by the source's own motion
there (still, slow, moving), with each band's error against the source's and
its share of the whole.

**Colour study** (``--colour``): the old comparison of colour preservation
methods on the fixed-camera clip (flicker = mean |frame t - frame t-1| over
the input's), now with the warping error too.

Each study rewrites only its own section of ``--out``.
"""
from __future__ import annotations

import argparse
import hashlib
import os
import platform
import re
import statistics
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path

import torch

import report

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "training"))
from vidstyle.imageio import read_image, resize, working_size  # noqa: E402
from vidstyle.model import DECODER_FILE, TAPS, weights_dir  # noqa: E402
from vidstyle.settings import ModelSettings, Span, SteadySettings  # noqa: E402
from vidstyle.shots import detect_shots  # noqa: E402
from vidstyle.stats import adain, channel_stats  # noqa: E402
from vidstyle.stylize import STYLE_SIZE, Stylizer  # noqa: E402
from vidstyle.temporal import Temporal, TemporalSettings, consistent, dis_flow, luma, warp  # noqa: E402
from vidstyle.video import FrameReader  # noqa: E402

MEDIA = ROOT / "examples" / "media"
DEFAULT_STYLE = ROOT / "examples" / "styles" / "starry_night.jpg"


@dataclass(frozen=True)
class Clip:
    name: str
    path: Path
    first: int  # first frame used
    cuts: tuple[int, ...] = ()  # known cuts (frame indices in the file): the pair (c-1, c) is left out


CLIPS = (
    Clip("static camera", MEDIA / "vtest_5s.mp4", 0),
    Clip("moving camera", MEDIA / "pan_dune.mp4", 0),
    Clip("hard cut", MEDIA / "cut_street_bunny.mp4", 8, cuts=(20,)),
    # Last, so the first three keep their places in the earlier tables. A zoom: no grid shift can follow it.
    Clip("zooming camera", MEDIA / "zoom_dune.mp4", 0),
)
# Longer shots (--long), for what a method's memory costs as it ages: the same fixed camera and the same kind of
# camera move, 144 frames each (examples/media/README.md).
LONG_CLIPS = (
    Clip("static camera, long", MEDIA / "vtest_long.mp4", 0),
    Clip("moving camera, long", MEDIA / "pan_dune_long.mp4", 0),
)

OFF = replace(TemporalSettings.off(), contrast=0)


def S(**changes) -> TemporalSettings:  # noqa: N802 - reads as a table below
    """A method: the temporal stage off, then ``changes``."""
    return replace(OFF, **changes)


DEFAULT = ("default: phase + snap 0.001 + features 0.9 (released at 0.5 px) + output 0.8 (0.85 still, copied within "
           "0.04, output tolerance 0.15, strokes within 0.5, zoom released at 2 px), contrast kept")
# What each later session added to the default, off: the earlier defaults below are exactly what they were.
LATER = dict(release=0.0, stroke_tolerance=0.0, zoom_release=0.0)
METHODS: dict[str, TemporalSettings] = {
    "off": OFF,
    "features 0.9 + output 0.8, contrast kept (previous default)": S(features=0.9, output=0.8, contrast=5),
    "phase": S(phase=True),
    "source 0.8 + features 0.9 + output 0.8, contrast kept": S(source=0.8, features=0.9, output=0.8, contrast=5),
    "phase + features 0.9 + output 0.8, contrast kept": S(phase=True, features=0.9, output=0.8, contrast=5),
    "phase + snap + features 0.9 + output 0.8, contrast kept (issue-14c default)": replace(
        TemporalSettings(), still_features=0.0, still_output=0.0, still_plain=False),
    "phase + snap + features 0.9 + output 0.8 (0.85 still), contrast kept (issue-14d default)": replace(
        TemporalSettings(), snap=0.002, still_copy=0.0),
    # Session 27's default: the output blend let the past go as tightly as the features' (0.05).
    "default: phase + snap 0.001 + features 0.9 + output 0.8 (0.85 still, copied within 0.04), contrast kept":
        replace(TemporalSettings(), output_tolerance=0.05, **LATER),
    # Sessions 28-29's default: the features' blend kept the past of what moves in the shot too (no release).
    "default: phase + snap 0.001 + features 0.9 + output 0.8 (0.85 still, copied within 0.04, output tolerance 0.15), "
    "contrast kept": replace(TemporalSettings(), **LATER),
    # Session 30's default: the output blend averaged whatever strokes the decoder drew (no stroke tolerance).
    "default: phase + snap 0.001 + features 0.9 (released at 0.5 px) + output 0.8 (0.85 still, copied within 0.04, "
    "output tolerance 0.15), contrast kept": replace(TemporalSettings(), stroke_tolerance=0.0, zoom_release=0.0),
    # Session 31's first default: the output blend blind to the camera's zoom.
    "default: phase + snap 0.001 + features 0.9 (released at 0.5 px) + output 0.8 (0.85 still, copied within 0.04, "
    "output tolerance 0.15, strokes within 0.5), contrast kept": replace(TemporalSettings(), zoom_release=0.0),
    DEFAULT: TemporalSettings(),
    "phase + snap + features 0.95 + output 0.95, contrast kept": S(phase=True, snap=0.002, features=0.95, output=0.95,
                                                                   contrast=5),
}
# Earlier studies and variants, run on their own (--methods ... --section ...).
EXTRA_METHODS: dict[str, TemporalSettings] = {
    "stats 0.8": S(stats=0.8),
    "naive output 0.8 (DIS, no source check, bilinear)": S(output=0.8, flow_method="dis", tolerance=1e3, resample="bilinear"),
    "output 0.8": S(output=0.8),
    "output 0.8, contrast kept": S(output=0.8, contrast=5),
    "features 0.9": S(features=0.9),
    "features 0.9 + output 0.5, contrast kept": S(features=0.9, output=0.5, contrast=5),
    "features 0.9 + output 0.8, contrast kept (DIS)": S(features=0.9, output=0.8, contrast=5, flow_method="dis"),
    "stats 0.8 + features 0.9 + output 0.8, contrast kept": S(stats=0.8, features=0.9, output=0.8, contrast=5),
    "stats 0.8 + features 0.9 + output 0.8, contrast kept, no cut reset": S(
        stats=0.8, features=0.9, output=0.8, contrast=5, min_consistent=0.0
    ),
    "features 0.95 + output 0.9, contrast kept, tolerance 0.1": S(features=0.95, output=0.9, contrast=5, tolerance=0.1),
    "features 0.95 + output 0.9, contrast kept, tolerance 0.1 (DIS)": S(
        features=0.95, output=0.9, contrast=5, tolerance=0.1, flow_method="dis"
    ),
    "output 0.9, contrast kept, tolerance 0.1 (DIS)": S(output=0.9, contrast=5, tolerance=0.1, flow_method="dis"),
    "features 0.9 + output 0.8, contrast kept, tolerance 0.15 (DIS)": S(
        features=0.9, output=0.8, contrast=5, tolerance=0.15, flow_method="dis"
    ),
    "source 0.8": S(source=0.8),
    "phase + features 0.9": S(phase=True, features=0.9),
    "phase + output 0.8, contrast kept": S(phase=True, output=0.8, contrast=5),
    "phase (period 8) + features 0.9 + output 0.8, contrast kept": S(phase=True, phase_period=8, features=0.9,
                                                                      output=0.8, contrast=5),
    "phase (period 1000) + features 0.9 + output 0.8, contrast kept": S(phase=True, phase_period=1000, features=0.9,
                                                                         output=0.8, contrast=5),
    "phase + snap + features 0.9 + output 0.95, contrast kept": S(phase=True, snap=0.002, features=0.9, output=0.95,
                                                                  contrast=5),
    "phase + snap 0.004 + features 0.9 + output 0.8, contrast kept": S(phase=True, snap=0.004, features=0.9, output=0.8,
                                                                       contrast=5),
    "phase + snap + output 0.95, contrast kept": S(phase=True, snap=0.002, output=0.95, contrast=5),
    "phase + snap + features 0.95 + output 0.95": S(phase=True, snap=0.002, features=0.95, output=0.95),
    # Still pixels (no motion, no change beyond the codec's noise) keep more of the past (issue 14, fixed camera).
    **{f"default + still output {o}{f' + still features {f}' if f else ''}{', plain' if p else ''}": replace(
        TemporalSettings(), still_output=o, still_features=f, still_plain=p)
       for o, f, p in ((0.95, 0.0, False), (0.95, 0.0, True), (0.95, 0.97, False), (0.95, 0.97, True),
                       (0.0, 0.97, False), (0.98, 0.98, True), (0.9, 0.95, True), (0.85, 0.0, False),
                       (0.9, 0.0, False))},
}
# Still pixels copy the past where the decoder's strokes wobble within a tolerance; the snap's slack (issue 14).
EXTRA_METHODS.update({
    "default, snap 0.002": replace(TemporalSettings(), snap=0.002),
    "default, still copy 0.08": replace(TemporalSettings(), still_copy=0.08),
    "default, no still copy": replace(TemporalSettings(), still_copy=0.0),
})
# Cheaper variants of the default (issue 14: the stage's cost on a CPU).
EXTRA_METHODS.update({
    "default, flow 128 px": replace(TemporalSettings(), flow_size=128),
    "default, flow 160 px": replace(TemporalSettings(), flow_size=160),
    "default, bilinear": replace(TemporalSettings(), resample="bilinear"),
})
# The default's parts, and variants of it, at the product's default size (issue 14: --size 512 is each clip's own
# size here, where the moving camera loses style that it kept at 256).
EXTRA_METHODS.update({
    "default, features only": replace(TemporalSettings(), output=0.0, still_output=0.0, still_copy=0.0),
    "default, output only": replace(TemporalSettings(), features=0.0),
    **{f"default, flow {n} px": replace(TemporalSettings(), flow_size=n) for n in (288, 384)},
    "default, output 0.6": replace(TemporalSettings(), output=0.6),
    **{f"default, contrast window {n}": replace(TemporalSettings(), contrast=n) for n in (3, 9)},
    "default, features 0.8": replace(TemporalSettings(), features=0.8),
    "default, tolerance 0.03": replace(TemporalSettings(), tolerance=0.03),
    "default, phase period 48": replace(TemporalSettings(), phase_period=48),
    "default, phase period 16": replace(TemporalSettings(), phase_period=16),
    "default, features bilinear": replace(TemporalSettings(), feature_resample="bilinear"),
})
# Without the feature blend (a third of the stage's CPU cost), the output blend stronger instead (issue 14).
EXTRA_METHODS["default, output only 0.9 (0.9 still)"] = replace(TemporalSettings(), features=0.0, output=0.9,
                                                                 still_output=0.9)
# The product's strength setting (vidstyle.settings.SteadySettings: --steady-strength), below the default (1).
EXTRA_METHODS.update({f"steady strength {x}": SteadySettings(strength=x).temporal() for x in (0.5, 0.75)})
# Copying the past along a camera model fitted to the flow (TemporalSettings.carry; issue 14, session 26).
CARRY = "default + camera carry 0.02"
EXTRA_METHODS.update({
    CARRY: replace(TemporalSettings(), carry=0.02),
    "default + camera carry 0.02, flow agrees within 0.25 px": replace(TemporalSettings(), carry=0.02, carry_agree=0.25),
    "default + camera carry 0.01": replace(TemporalSettings(), carry=0.01),
    # The carry's memory starts again with the grid phase (a new frame drawn whole): every 8 frames, to see what each restart costs.
    "default + camera carry 0.02, phase period 8": replace(TemporalSettings(), carry=0.02, phase_period=8),
    # What the decoder drew at a side is not carried in (carry_edge; session 27): the sides copied, and a wider edge.
    "default + camera carry 0.02, sides copied": replace(TemporalSettings(), carry=0.02, carry_edge=0.0),
    "default + camera carry 0.02, edge 16 px": replace(TemporalSettings(), carry=0.02, carry_edge=16.0),
})
# How much the source may change after warping before the past is let go (session 28): both blends' gate
# (TemporalSettings.tolerance and output_tolerance), and the output blend's alone.
EXTRA_METHODS.update({
    **{f"default, tolerance {t}": replace(TemporalSettings(), tolerance=t, output_tolerance=t) for t in (0.1, 0.15, 0.2)},
    **{f"default + camera carry 0.02, tolerance {t}": replace(TemporalSettings(), carry=0.02, tolerance=t,
                                                              output_tolerance=t) for t in (0.1, 0.15, 0.2)},
    **{f"default, output tolerance {t}": replace(TemporalSettings(), output_tolerance=t) for t in (0.1, 0.2, 0.3)},
    "default + camera carry 0.02, output tolerance 0.05": replace(TemporalSettings(), carry=0.02, output_tolerance=0.05),
})
# With a shot's first frame no longer scored (session 29), the default is over 3% in places: milder variants.
EXTRA_METHODS.update({
    "default, features 0.8, output tolerance 0.1": replace(TemporalSettings(), features=0.8, output_tolerance=0.1),
    "steady strength 0.9": SteadySettings(strength=0.9).temporal(),
})
# Session 30: the features' blend lets go of what moves apart from the camera (TemporalSettings.release).
EXTRA_METHODS.update({f"default, released at {r} px": replace(TemporalSettings(), release=r) for r in (0.25, 1.0, 2.0)})
# Session 31: the output blend lets the past go where the new strokes are far from it (stroke_tolerance).
EXTRA_METHODS.update({f"default, strokes within {t}": replace(TemporalSettings(), stroke_tolerance=t)
                      for t in (0.2, 0.3, 0.4, 0.6)})
# The output blend lets go of what the camera's zoom moves apart (zoom_release, px of the flow size).
EXTRA_METHODS.update({f"default, zoom released at {m} px": replace(TemporalSettings(), zoom_release=m)
                      for m in (1.0, 4.0)})
NO_RESET = "no cut reset"  # methods named so get no shot list either
# The source's motion (pixels per frame at the clip's size) that --split sorts the valid pixels by.
BANDS = ((0.0, 0.25), (0.25, 1.0), (1.0, float("inf")))
BAND_NAMES = ("still (< 0.25 px)", "slow (0.25-1 px)", "moving (>= 1 px)")


# --------------------------------------------------------------------------- #
# The measure
# --------------------------------------------------------------------------- #


def mean_kept(errors: list[float | None]) -> float:
    """The mean of the pair errors that were kept (None: a pair left out); 0 with none."""
    kept = [e for e in errors if e is not None]
    return sum(kept) / max(len(kept), 1)


@dataclass
class Measure:
    """The source's flows between consecutive frames, and which pixels of each pair count.

    ``back[i]``/``valid[i]`` belong to the pair (i, i+1): frame i+1 warped back to frame i's content.
    """

    back: list[torch.Tensor] = field(default_factory=list)  # (1, 2, H, W)
    valid: list[torch.Tensor] = field(default_factory=list)  # (1, 1, H, W) bool
    skip: set[int] = field(default_factory=set)  # pair indices left out (cuts)
    floors: list[float | None] = field(default_factory=list)  # the source's own pair_errors

    @classmethod
    def of(cls, frames: torch.Tensor, cut_pairs: set[int]) -> Measure:
        g = luma(frames)
        m = cls(skip=set(cut_pairs))
        for i in range(frames.shape[0] - 1):
            back = dis_flow(g[i + 1 : i + 2], g[i : i + 1], "medium")  # frame i+1 -> i
            fwd = dis_flow(g[i : i + 1], g[i + 1 : i + 2], "medium")
            m.back.append(back)
            m.valid.append(consistent(back, fwd))
        m.floors = m.pair_errors(frames)
        return m

    def _pairs(self, frames: torch.Tensor) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """Per kept pair i: |f[i+1] - warp(f[i])| ``(1, C, H, W)``, its valid pixels and the source's flow."""
        for i, (back, valid) in enumerate(zip(self.back, self.valid)):
            if i not in self.skip:
                prev, _ = warp(frames[i : i + 1].float(), back)
                yield (frames[i + 1 : i + 2] - prev).abs(), valid, back

    def error(self, frames: torch.Tensor) -> float:
        """Mean over the kept pairs of mean |f[i+1] - warp(f[i])| over valid pixels and channels, x 255."""
        return mean_kept(self.pair_errors(frames))

    @property
    def floor(self) -> float:
        """The source's own :meth:`error`, from the pair errors :meth:`of` keeps (no warp more)."""
        return mean_kept(self.floors)

    def pair_errors(self, frames: torch.Tensor) -> list[float | None]:
        """Per pair (i, i+1): mean |f[i+1] - warp(f[i])| over valid pixels and channels, x 255; None where left out."""
        errs: list[float | None] = [None] * len(self.back)
        kept = [i for i in range(len(self.back)) if i not in self.skip]
        for i, (diff, valid, _) in zip(kept, self._pairs(frames)):
            v = valid.float()
            errs[i] = float((diff * v).sum() / (v.sum() * 3).clamp_min(1)) * 255
        return errs

    def by_motion(self, frames: torch.Tensor) -> list[tuple[float, int]]:
        """Per band of :data:`BANDS`: the warping error summed over its valid pixels (mean over channels, x 255) and their count.

        The bands are the source's own motion at each pixel (the length of
        its flow, pixels per frame at the clip's size): where a sequence's
        flicker sits, on what stands still or on what moves.
        """
        sums = [[0.0, 0] for _ in BANDS]
        for diff, valid, back in self._pairs(frames):
            e, speed = diff.mean(1, keepdim=True)[valid], back.norm(dim=1, keepdim=True)[valid]
            for total, (lo, hi) in zip(sums, BANDS):
                inside = (speed >= lo) & (speed < hi)
                total[0] += float(e[inside].sum()) * 255
                total[1] += int(inside.sum())
        return [(e, n) for e, n in sums]

    def coverage(self) -> float:
        kept = [float(v.float().mean()) for i, v in enumerate(self.valid) if i not in self.skip]
        return sum(kept) / max(len(kept), 1)


# --------------------------------------------------------------------------- #
# The run
# --------------------------------------------------------------------------- #


def read_frames(path: Path, first: int, count: int) -> torch.Tensor:
    with FrameReader(path, Span(frames=(first, first + count))) as reader:
        return torch.cat([b.rgb for b in reader.iter_batches(8)])


class Quality:
    """Structure score and style fraction (training/evaluate.py's definitions) of results at the working size.

    With ``margin``, both are taken without that many pixels of every side
    (of the result and of the source alike): a frame stylized on its own is
    drawn with its edges padded, which the scores see as much as the inside.
    """

    def __init__(self, st: Stylizer, style: Path, margin: int = 0) -> None:
        self.margin = margin
        from evaluate import structure_score
        from objective import style_loss

        self.encoder = st.encoder
        self.structure_score, self.style_loss = structure_score, style_loss
        img = read_image(style).rgb
        img = resize(img, working_size(img.shape[-2], img.shape[-1], STYLE_SIZE))
        self.targets = [channel_stats(f) for f in self.encoder(img, TAPS)]
        self._before: dict[tuple[str, int], float] = {}

    @torch.no_grad()
    def frame(self, key: tuple[str, int], out: torch.Tensor, src: torch.Tensor) -> tuple[float, float]:
        if m := self.margin:
            out, src = out[..., m:-m, m:-m], src[..., m:-m, m:-m]
        if key not in self._before:
            self._before[key] = float(self.style_loss(self.encoder(src, TAPS), self.targets))
        fraction = float(self.style_loss(self.encoder(out, TAPS), self.targets)) / max(self._before[key], 1e-12)
        return float(self.structure_score(self.encoder, out, src)), fraction


@dataclass
class Row:
    clip: str
    method: str
    ratio: float
    error: float
    structure: float
    style: float
    trace: float | None
    inner: tuple[float, float] | None = None  # structure and style by run_clip's second Quality (another margin)
    # Per window of --windows frames: the warping error's ratio to the source's there, structure, style fraction.
    windows: list[tuple[float, float, float] | None] = field(default_factory=list)


@torch.no_grad()
def cost(st: Stylizer, quality: Quality, clip: Clip, methods: dict[str, TemporalSettings], count: int, batch: int,
         repeats: int) -> tuple[dict[str, float], float]:
    """Median ms per frame of each method's temporal calls, and of the model (encoder + decoder), side by side.

    Batch by batch: the model runs once, then every method's calls on the
    same batch (each method keeps its own state; its output step blends the
    plain decoded frames, which costs the same as blending its own). The
    first batch of each repeat has no predecessor (no flow) and is not counted.
    """
    src = read_frames(clip.path, clip.first, count)
    small = resize(src, working_size(*src.shape[-2:], st.size))
    s_mean, s_std = quality.targets[-1]
    spent: dict[str, list[float]] = {name: [] for name in methods}
    model: list[float] = []
    for _ in range(repeats):
        states = {name: Temporal(settings) for name, settings in methods.items()}
        for i in range(0, small.shape[0], batch):
            x = small[i : i + batch]
            t0 = time.perf_counter()
            f = st.encoder.encode(x).float()
            o = st.decoder(adain(f, s_mean, s_std)).float().clamp(0, 1)
            t1 = time.perf_counter()
            if i > 0:
                model.append((t1 - t0) / x.shape[0])
            for name, state in states.items():
                t2 = time.perf_counter()
                motion = state.motion(x)
                state.source(x, motion)
                state.features(f, motion, s_mean, s_std)
                state.output(o, motion)
                if i > 0:
                    spent[name].append((time.perf_counter() - t2) / x.shape[0])
    base = statistics.median(model)
    return {name: statistics.median(v) * 1e3 for name, v in spent.items()}, base * 1e3


def shot_starts(clip: Clip, count: int) -> list[bool]:
    """Per frame of the clip's range: does a shot start there (the shot detector's cuts; the first frame)."""
    cuts = set(detect_shots(clip.path, device="cpu").cuts)
    return [i == 0 or (clip.first + i) in cuts for i in range(count)]


@torch.no_grad()
def run_clip(st: Stylizer, quality: Quality, style: Path, clip: Clip, count: int, methods: dict[str, TemporalSettings],
             batch: int, every: int, split: bool = False,
             stages: dict[str, Callable[[TemporalSettings], Temporal]] | None = None,
             inner: Quality | None = None, product: bool = False, window: int = 0) -> tuple[list[Row], dict]:
    """Each method's rows on ``clip`` (and the clip's facts). ``stages`` names another output stage than
    :class:`Temporal` for some methods (a prototype measured beside the product's); ``inner`` scores the same
    results a second time (``Row.inner``: another margin), so that the clip is not rendered twice for it.
    With ``window``, each row also has its scores per window of that many frames (``Row.windows``).

    The model is the float32 encoder and decoder, unless ``product``: then every method runs through
    :meth:`Stylizer.stylize` with the temporal hooks, on ``st``'s backend, as a render does (the frames come
    back at the clip's size and are scored at the working size, resized down)."""
    src = read_frames(clip.path, clip.first, count)
    n = src.shape[0]
    h0, w0 = src.shape[-2:]
    h, w = working_size(h0, w0, st.size)
    cut_local = [c - clip.first for c in clip.cuts if clip.first < c < clip.first + n]
    measure = Measure.of(src, {c - 1 for c in cut_local})
    floor = measure.floor
    starts = shot_starts(clip, n)
    small = resize(src, (h, w))
    s_mean, s_std = quality.targets[-1]

    # The encoder once per clip (the product path needs only the first batch, for the check); the check that
    # the float32 modules are the product's path, up to its backend.
    upto = batch if product else n
    feats = torch.cat([st.encoder.encode(small[i : i + batch]).float() for i in range(0, upto, batch)])
    plain = torch.cat([st.decoder(adain(feats[i : i + batch], s_mean, s_std)).float().clamp(0, 1)
                       for i in range(0, upto, batch)])
    look = st.look([style])
    check = float((st.stylize(src[:batch], look) - resize(plain[:batch], (h0, w0)).clamp(0, 1)).abs().max())

    rows, outputs, decoded = [], {}, {}
    bands = {"source": measure.by_motion(src)} if split else {}
    for name, settings in methods.items():
        flags = [i == 0 for i in range(n)] if NO_RESET in name else starts
        # Methods whose feature path is the same share its decoded frames (the output blend comes after).
        feature_path = replace(settings, output=0.0, contrast=0, still_output=0.0, still_plain=False)
        key = ((feature_path, NO_RESET in name)
               if settings.stats > 0 or settings.features > 0 or settings.source > 0 or settings.phase else None)
        state = (stages or {}).get(name, Temporal)(settings)
        if product:
            outs = []
            for i in range(0, n, batch):
                sl = slice(i, i + batch)
                regrid = state.regrid(range(clip.first + i, clip.first + min(i + batch, n)))
                hooks = state.hooks(flags[sl], regrid=regrid) if settings.needs_flow or settings.stats else None
                outs.append(st.stylize(src[sl], look, hooks=hooks).float())
            out = torch.cat(outs).clamp(0, 1)
            _score(rows, outputs, bands, name, clip, out, resize(out, (h, w)).clamp(0, 1), small, measure, floor,
                   quality, inner, every, cut_local, split, starts, window)
            continue
        if key is not None and key in decoded:
            feature_state = None
        else:
            feature_state = Temporal(feature_path)
        outs, decs = [], []
        for i in range(0, n, batch):
            sl = slice(i, i + batch)
            regrid = state.regrid(range(clip.first + i, clip.first + min(i + batch, n)))
            motion = state.motion(small[sl], flags[sl], regrid=regrid)
            if key is None:
                o = plain[sl]
            elif feature_state is None:
                o = decoded[key][sl]
            else:
                m2 = feature_state.motion(small[sl], flags[sl], regrid=regrid)
                seen = feature_state.source(x := small[sl], m2)
                f = feats[sl] if seen is x else st.encoder.encode(seen).float()
                o = st.decoder(feature_state.features(f, m2, s_mean, s_std)).float().clamp(0, 1)
                decs.append(o)
            outs.append(state.output(o, motion))
        if decs:
            decoded[key] = torch.cat(decs)
        out_small = torch.cat(outs)
        _score(rows, outputs, bands, name, clip, resize(out_small, (h0, w0)).clamp(0, 1), out_small, small, measure,
               floor, quality, inner, every, cut_local, split, starts, window)
    info = {"frames": n, "size": f"{w0}x{h0}", "work": f"{w}x{h}", "floor": floor, "coverage": measure.coverage(),
            "cuts_true": [clip.first + c for c in cut_local], "cuts_found": [clip.first + i for i, s in enumerate(starts) if s and i],
            "check": check, "first": clip.first, "bands": bands}
    return rows, info


def scored_frames(count: int, every: int, starts: list[bool]) -> list[int]:
    """The frames whose structure and style are scored: every ``every``-th, less those where a shot starts.

    A shot's first frame has no past: every method draws it exactly as ``off`` does, so scoring it would only
    dilute each method's change against ``off`` (by a sixth on a clip of 24 frames scored every 4th, by a
    third where a cut falls on the grid too).

    >>> scored_frames(24, 4, [i in (0, 12) for i in range(24)])
    [4, 8, 16, 20]
    """
    return [i for i in range(0, count, every) if not starts[i]]


def by_window(errors: list[float | None], floors: list[float | None], scores: dict[int, tuple[float, float]],
              window: int) -> list[tuple[float, float, float] | None]:
    """Per window of ``window`` frames: the warping error ratio over its pairs, the mean structure and style.

    A window's pairs are (i, i + 1) with frame i + 1 inside it (``errors[i]``, None where left out: a cut),
    against the source's same pairs (``floors``); its scores are those of the scored frames inside it
    (``scores``: frame -> (structure, style)). A window with no pair or no score is None, so that the k-th
    entry is always frames ``k * window`` on, whichever method.

    >>> by_window([2.0, 4.0, None, 6.0], [1.0, 1.0, 1.0, 2.0], {0: (1.0, 0.5), 4: (3.0, 0.1)}, 2)
    [(2.0, 1.0, 0.5), None, (3.0, 3.0, 0.1)]
    """
    frames = len(errors) + 1
    out = []
    for a in range(0, frames, window):
        pairs = [i for i in range(max(a - 1, 0), min(a + window, frames) - 1) if errors[i] is not None]
        kept = [v for i, v in sorted(scores.items()) if a <= i < a + window]
        out.append((sum(errors[i] for i in pairs) / max(sum(floors[i] for i in pairs), 1e-12),
                    statistics.mean(s for s, _ in kept), statistics.mean(f for _, f in kept)) if pairs and kept else None)
    return out


def _score(rows: list, outputs: dict, bands: dict, name: str, clip: Clip, out: torch.Tensor, out_small: torch.Tensor,
           small: torch.Tensor, measure: Measure, floor: float, quality: Quality, inner: Quality | None, every: int,
           cut_local: list[int], split: bool, starts: list[bool], window: int = 0) -> None:
    """One method's row: the warping error of ``out`` (the clip's size), the scores of ``out_small`` (working size)."""
    n = out.shape[0]
    outputs[name] = out
    pair_errors = measure.pair_errors(out)
    err = mean_kept(pair_errors)
    if split:
        bands[name] = measure.by_motion(out)
    scored = scored_frames(n, every, starts)
    scores = [quality.frame((clip.name, i), out_small[i : i + 1], small[i : i + 1]) for i in scored]
    trace = None
    if cut_local and "off" in outputs:
        trace = max(float((out[c] - outputs["off"][c]).abs().mean()) * 255 for c in cut_local)
    both = None
    if inner is not None:
        more = [inner.frame((clip.name, i), out_small[i : i + 1], small[i : i + 1]) for i in scored]
        both = (statistics.mean(s for s, _ in more), statistics.mean(f for _, f in more))
    windows = by_window(pair_errors, measure.floors, dict(zip(scored, scores)), window) if window else []
    rows.append(Row(clip.name, name, err / floor, err, statistics.mean(s for s, _ in scores),
                    statistics.mean(f for _, f in scores), trace, both, windows))


# --------------------------------------------------------------------------- #
# Reports
# --------------------------------------------------------------------------- #


def decoder_id() -> str:
    path = weights_dir() / DECODER_FILE
    return f"{path.name} (sha256 {hashlib.sha256(path.read_bytes()).hexdigest()[:12]})"


def write_section(out: Path, key: str, text: str) -> None:
    """Replace (or append) the section between ``<!-- key -->`` markers in ``out``."""
    begin, end = f"<!-- {key}: begin -->", f"<!-- {key}: end -->"
    block = f"{begin}\n{text.rstrip()}\n{end}\n"
    old = out.read_text(encoding="utf-8") if out.exists() else "# Flicker\n\nWritten by `benchmarks/bench_flicker.py`; each study rewrites its own section.\n\n"
    if begin in old:
        new = re.sub(re.escape(begin) + r".*?" + re.escape(end) + r"\n?", lambda _: block, old, flags=re.S)
    else:
        new = old.rstrip() + "\n\n" + block
    out.write_text(new, encoding="utf-8")


def machine() -> str:
    others = []
    try:
        for pid in os.listdir("/proc"):
            if pid.isdigit() and int(pid) != os.getpid():
                stat = Path(f"/proc/{pid}/stat").read_text().split()
                if stat[2] == "R":
                    others.append(Path(f"/proc/{pid}/comm").read_text().strip())
    except OSError:
        pass
    return (f"torch {torch.__version__}, {torch.get_num_threads()} threads, {os.cpu_count()} cores "
            f"({platform.machine()}); other processes running at the start: {', '.join(sorted(others)) or 'none'}")


def temporal_study(args) -> str:
    st = Stylizer(device=args.device, size=args.size, backend=args.backend or ModelSettings.backend)
    quality = Quality(st, args.style, args.margin)
    everything = {**METHODS, **EXTRA_METHODS}
    methods = {k: v for k, v in everything.items() if k in args.methods} if args.methods else dict(METHODS)
    rows, infos = [], {}
    start = time.perf_counter()
    clips = LONG_CLIPS if args.long else CLIPS
    with report.Paused() as paused:
        for clip in clips:
            if args.clips and clip.name not in args.clips:
                continue
            r, info = run_clip(st, quality, args.style, clip, args.frames, methods, args.batch, args.eval_every,
                               args.split, product=args.backend is not None, window=args.windows)
            rows += r
            infos[clip.name] = info
            print(f"{clip.name}: { {k: v for k, v in info.items() if k != 'bands'} }", file=sys.stderr)
            for row in r:
                print(f"  {row}", file=sys.stderr)
        costs, model_ms = cost(st, quality, CLIPS[1], methods, args.cost_frames, args.batch, args.cost_repeats)
    seconds = time.perf_counter() - start
    net = {name: ms - costs.get("off", 0.0) for name, ms in costs.items()}
    base = {(r.clip): r for r in rows if r.method == "off"}
    lines = [
        f"## Temporal consistency ({args.section}): warping error, style kept, cost",
        "",
        f"Command: `{report.command()}`",
        "",
        f"- style: {args.style.name}; working size {st.size}; device {st.device}; batch {args.batch}; "
        f"decoder {decoder_id()}; model: "
        + (f"the product's path on backend {st.backend.name} (`--backend {args.backend}`; the cost column is still "
           "the float32 modules')" if args.backend else "the float32 encoder and decoder"),
        f"- {machine()}; training processes paused while measuring: {paused.pids or 'none listed'}",
        f"- {seconds:.0f} s for the whole study",
        "",
        "| clip | file | frames | size (work) | floor (x 255) | valid pixels | cuts known / found | model path check |",
        "|---|---|---:|---|---:|---:|---|---:|",
    ]
    for clip in clips:
        if clip.name in infos:
            i = infos[clip.name]
            lines.append(
                f"| {clip.name} | {clip.path.name} | {i['first']}-{i['first'] + i['frames'] - 1} | {i['size']} ({i['work']}) | "
                f"{i['floor']:.3f} | {i['coverage']:.1%} | {i['cuts_true'] or '-'} / {i['cuts_found'] or '-'} | {i['check']:.1e} |"
            )
    lines += [
        "",
        "Ratio = warping error / the source's floor (target <= 1.5). Structure and style fraction: lower is better; "
        "the change is against `off` on the same clip (target: each no more than 3% worse)"
        f"{f'; both without {args.margin} px of every side' if args.margin else ''}. Cost: the temporal "
        "calls per frame over `off`'s (whose calls are AdaIN alone), as a share of the model's encoder + decoder per "
        f"frame measured beside them ({model_ms:.0f} ms; median over {args.cost_repeats} passes over frames "
        f"{CLIPS[1].first}-{CLIPS[1].first + args.cost_frames - 1} of the moving-camera clip, first batch of each "
        "pass left out). Trace: first frame after the cut against `off` (8-bit levels).",
        "",
        "| clip | method | warping error ratio | structure (change) | style fraction (change) | cost ms/frame (% of model) | trace at cut |",
        "|---|---|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        b = base.get(r.clip)
        ds = f" ({(r.structure / b.structure - 1):+.1%})" if b else ""
        df = f" ({(r.style / b.style - 1):+.1%})" if b else ""
        trace = "-" if r.trace is None else f"{r.trace:.2f}"
        ms = net.get(r.method, float("nan"))
        lines.append(f"| {r.clip} | {r.method} | {r.ratio:.2f} | {r.structure:.4f}{ds} | {r.style:.4f}{df} | "
                     f"{ms:.1f} ({ms / model_ms:.1%}) | {trace} |")
    if args.split:
        lines += ["", *split_table(infos)]
    if args.windows:
        lines += ["", *windows_table(rows, args.windows)]
    return "\n".join(lines) + "\n"


def windows_table(rows: list[Row], window: int) -> list[str]:
    """--windows's table: per clip and method, each window's warping error ratio and its structure and style change.

    A method with memory starts every shot from the unsteadied frame and builds its memory up over the
    following frames: what it costs once that memory is old shows in the later windows.
    """
    base = {r.clip: r for r in rows if r.method == "off"}
    most = max((len(r.windows) for r in rows), default=0)
    lines = [
        f"By the age of the shot (`--windows {window}`): per window of {window} frames, the warping error ratio "
        "over its pairs, then the structure and style fraction changes against `off` in the same window.",
        "",
        "| clip | method | " + " | ".join(f"frames {a}-{a + window - 1}" for a in range(0, most * window, window)) + " |",
        "|---|---|" + "---:|" * most,
    ]
    for r in rows:
        b = base.get(r.clip)
        cells = []
        for k, cell in enumerate(r.windows):
            if cell is None:
                cells.append("-")
                continue
            ratio, structure, style = cell
            if b is not None and k < len(b.windows) and b.windows[k] is not None:
                cells.append(f"{ratio:.2f}, {structure / b.windows[k][1] - 1:+.1%}, {style / b.windows[k][2] - 1:+.1%}")
            else:
                cells.append(f"{ratio:.2f}, {structure:.4f}, {style:.4f}")
        lines.append(f"| {r.clip} | {r.method} | {' | '.join(cells)} |")
    return lines


def split_table(infos: dict[str, dict]) -> list[str]:
    """--split's table: per clip and method, each band's mean warping error, its ratio to the source's, its share."""
    lines = [
        "Where the flicker is (`--split`): the valid pixels sorted by the source's own motion (its flow's length). "
        "Each cell: the band's mean warping error (x 255), as a multiple of the source's in the same band, and the "
        "band's share of the sequence's whole error; the source's row gives each band's share of the pixels instead.",
        "",
        f"| clip | method | {' | '.join(BAND_NAMES)} |",
        "|---|---|" + "---:|" * len(BANDS),
    ]
    for clip, info in infos.items():
        source = info["bands"]["source"]
        pixels = sum(n for _, n in source)
        for name, bands in info["bands"].items():
            total = sum(e for e, _ in bands)
            cells = []
            for (e, n), (e0, _) in zip(bands, source):
                mean = e / max(n, 1)
                if name == "source":
                    cells.append(f"{mean:.2f}, {n / max(pixels, 1):.1%} of the pixels")
                else:
                    cells.append(f"{mean:.2f} (x{e / max(e0, 1e-12):.2f}), {e / max(total, 1e-12):.0%}")
            lines.append(f"| {clip} | {name} | {' | '.join(cells)} |")
    return lines


def cost_study(args) -> str:
    st = Stylizer(device=args.device, size=args.size)
    quality = Quality(st, args.style, args.margin)
    everything = {**METHODS, **EXTRA_METHODS}
    methods = {k: v for k, v in everything.items() if k in args.methods} if args.methods else dict(METHODS)
    start = time.perf_counter()
    with report.Paused() as paused:
        costs, model_ms = cost(st, quality, CLIPS[1], methods, args.cost_frames, args.batch, args.cost_repeats)
    seconds = time.perf_counter() - start
    from vidstyle.video import probe

    info = probe(CLIPS[1].path)
    h, w = working_size(info.height, info.width, st.size)
    lines = [
        f"## Cost at --size {st.size} ({w}x{h} for the {info.width}x{info.height} clip)",
        "",
        f"Command: `{report.command()}`",
        "",
        f"- {machine()}; training processes paused while measuring: {paused.pids or 'none listed'}; {seconds:.0f} s",
        f"- model (encoder + decoder) {model_ms:.0f} ms per frame; median over {args.cost_repeats} passes over "
        f"frames {CLIPS[1].first}-{CLIPS[1].first + args.cost_frames - 1} of {CLIPS[1].path.name}, batch {args.batch}, "
        "first batch of each pass left out; the temporal calls of every method timed on the same batches",
        "",
        "| method | temporal calls, ms/frame over `off` | % of the model |",
        "|---|---:|---:|",
    ]
    for name, ms in costs.items():
        net = ms - costs.get("off", 0.0)
        lines.append(f"| {name} | {net:.1f} | {net / model_ms:.1%} |")
    return "\n".join(lines) + "\n"


class Flicker:
    """Running mean |frame t - frame t-1|, on floats."""

    def __init__(self) -> None:
        self.prev: torch.Tensor | None = None
        self.total = 0.0
        self.pairs = 0

    def add(self, frames: torch.Tensor) -> None:
        for f in frames:
            if self.prev is not None:
                self.total += float((f - self.prev).abs().mean())
                self.pairs += 1
            self.prev = f.clamp(0, 1)

    @property
    def mean(self) -> float:
        return self.total / max(self.pairs, 1)


@torch.no_grad()
def colour_study(args) -> str:
    methods = (("off", None), ("histogram (per frame, old)", "histogram"), ("luminance (new default)", "luminance"))
    st = Stylizer(device=args.device, size=args.size)
    looks = {name: st.look([args.style], preserve_color=m is not None, color_method=m or "histogram") for name, m in methods}
    clip = CLIPS[0]
    src = read_frames(clip.path, 0, args.frames)
    measure = Measure.of(src, set())
    outs = {name: torch.cat([st.stylize(src[i : i + args.batch], look) for i in range(0, src.shape[0], args.batch)])
            for name, look in looks.items()}
    inp = Flicker()
    inp.add(src)
    floor = measure.floor
    rows = [
        "| colour preservation | flicker (x input) | warping error (x source floor) |",
        "|---|---:|---:|",
        f"| (input frames) | 1.000 | 1.000 ({floor:.3f} x 255) |",
    ]
    for name, out in outs.items():
        fl = Flicker()
        fl.add(out)
        rows.append(f"| {name} | {fl.mean / max(inp.mean, 1e-12):.3f} | {measure.error(out) / floor:.3f} |")
    return "\n".join([
        "## Colour preservation on video",
        "",
        f"Command: `{report.command()}`",
        "",
        f"- clip: {clip.path.name}, frames 0-{src.shape[0] - 1}; style {args.style.name}; working size {st.size}; "
        f"decoder {decoder_id()}",
        "",
        "Flicker = mean |frame t - frame t-1| over all pixels, channels and pairs, divided by the input's.",
        "",
        *rows,
        "",
    ])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--style", type=Path, default=DEFAULT_STYLE)
    ap.add_argument("--size", type=int, default=ModelSettings.size, help="the working size, as `vidstyle run --size` (default: its default)")
    ap.add_argument("--frames", type=int, default=30, help="frames per clip")
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--batch", type=int, default=2)
    ap.add_argument("--eval-every", type=int, default=2, help="structure and style on every N-th frame")
    ap.add_argument("--methods", nargs="*", default=None, help="method names (default: all)")
    ap.add_argument("--clips", nargs="*", default=None, help="clip names (default: all)")
    ap.add_argument("--long", action="store_true",
                    help="the long clips (a fixed and a moving camera, 144 frames each) instead of the three short ones")
    ap.add_argument("--windows", type=int, default=0,
                    help="also the scores per window of this many frames: what a method costs as its memory ages")
    ap.add_argument("--cost-frames", type=int, default=8, help="frames of the moving clip per cost pass")
    ap.add_argument("--cost-repeats", type=int, default=2)
    ap.add_argument("--cost-only", action="store_true", help="only the cost table (section cost-<size>)")
    ap.add_argument("--cost-threads", type=int, default=None, help="torch threads while timing (default: torch's)")
    ap.add_argument("--section", default="temporal", help="the section of --out this run rewrites")
    ap.add_argument("--split", action="store_true",
                    help="also where the warping error sits: still, slow and moving pixels of the source")
    ap.add_argument("--backend", default=None,
                    help="run every method through the product's path (Stylizer.stylize with the temporal hooks) on "
                         "this backend (auto, torch, bf16, onnx); default: the float32 encoder and decoder")
    ap.add_argument("--margin", type=int, default=0,
                    help="structure and style without this many pixels of every side (default: the whole frame)")
    ap.add_argument("--colour", action="store_true", help="the colour preservation study instead")
    ap.add_argument("--out", type=Path, default=ROOT / "benchmarks" / "RESULTS-flicker.md")
    args = ap.parse_args()
    if args.cost_frames <= args.batch:
        # The first batch of each cost pass has no predecessor (no flow) and is not timed.
        ap.error(f"--cost-frames must be more than --batch ({args.batch}): the first batch is not timed")
    if args.cost_threads:
        torch.set_num_threads(args.cost_threads)
    if args.cost_only:
        text, section = cost_study(args), f"cost-{args.size}"
    elif args.colour:
        text, section = colour_study(args), "colour"
    else:
        text, section = temporal_study(args), args.section
    write_section(args.out, section, text)
    print(text)


if __name__ == "__main__":
    main()
