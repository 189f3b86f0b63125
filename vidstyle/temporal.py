"""Temporal consistency: the one stage of a render with memory.

A feed-forward stylizer treats every frame on its own, so texture that should
stay put on a still wall crawls from frame to frame. These mechanisms make it
steady, cheapest first (measured one by one in ``benchmarks/RESULTS-flicker.md``):

- **Steady statistics.** AdaIN normalises each frame's relu4_1 channels by
  that frame's own mean and std. A person walking through the shot, sensor
  noise or a small change of light moves those statistics a little, and the
  whole frame is re-coloured. Here they are an exponential moving average
  over the frames of the shot (:func:`ema_stats`), so they follow the shot
  but not its noise. No flow, no pixels: it costs nothing.
- **Flow-guided blending.** The source's optical flow, at a reduced size
  (:func:`flow`), says where each pixel of frame t was in frame t-1. The
  previous result is warped along it (:func:`warp`) and blended into the new
  one where the flow can be trusted (:func:`blend_weight`): the forward and
  backward flows agree (:func:`consistent`, which drops occlusions and the
  frame's edges) and the source itself matches after warping (so moving
  objects and new content come through without ghost trails). Two places:
  on the relu4_1 features before the decoder (``features``: steadier
  features, and the decoder still draws its own full-strength strokes), and
  on the decoded pixels (``output``). A plain pixel blend of strokes that do
  not line up averages them away (the style washes out, badly wherever the
  camera moves, since every warp also resamples); :func:`contrast_blend`
  blends and then gives the detail back the local contrast of the new frame.
- **Grid phase lock** (``phase``). The encoder's three stride-2 poolings and
  the decoder's three 2x upsamplings make the network equivariant to shifts
  by whole multiples of 8 px only (:data:`GRID`): when the camera pans by a
  fraction of that, the decoder draws other strokes on every frame, and no
  blend of strokes that do not line up keeps both the style and the calm.
  So each frame is shifted (by at most 4 px, one Lanczos resample, not
  recursive) so that the camera's motion from the previous frame, the
  flow's median, becomes a whole number of cells: the scene sits at the
  same phase of the grid as before, the network draws the same strokes in
  the same places, the blends above work on pictures that line up (their
  warps, nearly whole-pixel, barely blur), and the result is shifted back.
  The phase starts again (at 0) at every ``phase_period``-th frame of the
  video (and at every cut), so that a farm chunk finds a single render's
  phase by following the flow from the last restart before its warm-up
  (:meth:`vidstyle.render.Steady.phase_from`).
- **The camera's own motion** (``snap``). A local flow leaks a fraction of a
  pixel around people walking through a still shot and drifts on flat
  areas; the past carried along it is misplaced, and the strokes there
  shimmer. Wherever the camera's motion (the flow's median) explains the
  source as well, it replaces the local flow (:func:`snap_to_global`).
- **Copying along the camera** (``carry``, off by default; ``vidstyle run
  --steady-carry``). Every blend of strokes that do not line up either
  levels off (the contrast blend) or washes them out (a plain one); a copy
  keeps them whole. Per frame a camera model, a zoom and a shift per axis,
  is fitted to the local flow (:func:`fit_camera`); where it predicts the
  source (:func:`camera_holds`), the previous output resampled by it
  (:func:`camera_carry`: separable Lanczos, exact for a still camera)
  replaces the blended one. Much steadier, but the decoder's strokes
  around a person reach past its silhouette, and a copy would keep them
  after the person has moved on; so with a camera that stands still, near
  what the carry leaves out, the past is copied only where the decoder
  redrew it alike (``carry_near``, ``carry_redraw``), and the old strokes
  there fade with the output blend. With a moving camera nothing is copied
  from the previous frame's outer 8 px (``carry_edge``): the decoder draws
  what enters at a side against its padding, and a copy would carry those
  strokes inwards for good. Nor along a zoom: where the camera zooms
  (``zoom_release``), the frame copies nothing, since a copy along a zoom
  magnifies the old strokes. A copy never forgets, so with the carry the
  whole memory starts again at every ``phase_period``-th frame, and a farm
  chunk that warms up from there matches a single render exactly; and what
  it costs the picture grows with the age of that memory (below).
- **Source averaging** (``source``, off by default): a flow-compensated
  recursive average of the frames the encoder sees, to take sensor and codec
  noise out before the network amplifies it. Measured, it does little on
  the sample clips (their codec leaves little noise) and costs structure.

The defaults (:class:`TemporalSettings`) are the best trade-off that
``benchmarks/RESULTS-flicker.md`` measured: phase lock and snap (slack
0.001) on, features 0.9, output 0.8 with the contrast kept, the built-in
Lucas-Kanade flow at 192 px, no steady statistics (they help a little alone
and nothing on top of the flow blends). Where the source stands still
(:func:`stillness`: no motion, no change beyond the codec's noise) the
output keeps 0.85 of the past instead of 0.8, and where the decoder has
redrawn a still background's strokes within 0.04 of the past it copies the
past outright (``still_copy``): the decoder's wobble there is mostly fine
detail, which an average washes out (a still weight of 0.9 or more moved the
structure over 3%) and a copy keeps whole. The remaining flicker of a fixed
camera sits mostly on the people walking through it, where the flow is least
sure; there the output blend lets the past go only where the source changed
by about 0.15 after warping (``output_tolerance``), not 0.05 as the
features' blend does: the flow misses a walking person's outline by a
fraction of a pixel, and a tight gate let new strokes through at exactly
those edges. The features' blend, for its part, keeps none of the past of
what moves apart from the camera (``release``, :func:`released`): warped a
fraction of a pixel off, a walking person's features smeared them (on the
fixed camera the 9% of relu4_1 cells with motion held 2.0 of the 3.4 points
that the structure had moved), and the output blend alone steadies them well
enough. That took the three sample clips' structure from 2.7-4.1% to
2.0-2.9% from unsteadied, for 1.90-2.01 times the source's flicker (1.63 on
the cut clip) instead of 1.57-1.93 (``release-512``). The output blend in
turn keeps less of the past where the decoder's new strokes are far from
the warped past's (``stroke_tolerance``): strokes that do not line up are
averaged into a cross-hatch that is neither. With it every picture score of
the three clips is within 3% of unsteadied (structure 1.6-2.2%, the moving
camera's style fraction 2.9%, was 3.3%), for 1.71-2.19 times the source's
flicker (``strokes-512``). A zoom is the camera move that no grid shift
lines up: blended, its strokes washed 22% of the style out
(``zoom_dune.mp4``). So the output blend also keeps none of the past where
the camera's zoom alone moves the picture by 2 px of the flow size a frame
(``zoom_release``, :func:`zoom_apart`); the fast zoom then keeps its style
(3.0% from unsteadied) for 5.6 times the source's flicker (7.1 unsteadied),
and the three clips are unchanged within 0.02 (``zoom-512``). A larger copy
tolerance (0.08) is steadier still but moves the structure over 3%; a copy
also forgets more slowly than an average, so a farm chunk of a fixed camera
needs a warm-up of 64 frames to meet a single render within 40 dB at the
default size (a moving camera 48 or fewer). A moving camera has no still
pixels; a snap slack of 0.001 rather than 0.002 keeps its structure under
3%. Its structure and style costs sit mostly in the frame's outer 8 px
(before the release, without them +0.2% and +1.5% from unsteadied, against
+2.7% and +3.7% on the whole frame), where the phase lock's shift leaves a
strip that the network sees replicated from the edge and the blends' flow
leaves the frame; a lock by whole pixels, which resamples nothing, was no
better (``moving-phase-512`` and its margin-8 twin, and the session-29
notes).
The camera carry is off, and experimental: over the first 24 frames of a
shot it brings the three sample clips to 1.67, 1.50 and 1.58 times the
source's flicker, against the default's 2.19, 1.99 and 1.71 (structure up
to 4.2%, style fraction up to 5.2% from unsteadied), but its cost grows as
its memory ages. Over the 144 frames of a long fixed-camera shot the
structure moved 4.2% from unsteadied (5.1%, and the style fraction 14.9%, in
the last 24 frames; the default 1.8% and -0.9% over the shot) for 1.49 times
the source's flicker (the default 1.91); over 144 frames of a camera move,
14% and the style fraction 19% (33% in the last 24 frames) for 1.91 (the
default 2.00, +2.5% and -0.2%; ``carry-zoom-512``, ``long-512-carry-zoom``,
``long-512-zoom``). The pair of frames across each of its restarts
flickers 19 times the source's on the fixed camera (the session-28 notes in
the results). Refreshing its memory instead by a band that sweeps the frame
every 24 or 48 frames (a prototype, not kept) bounded that cost on the
camera move but was no steadier than the default there, and on the fixed
camera gave the same trade-off as the default's own tolerances.

Every cut resets the memory: the render loop says where shots start (the shot
list, timeline cuts, a farm chunk's first frame), and a frame whose flow
from its predecessor is mostly inconsistent counts as a cut too (a cut the
shot detector missed). After a reset, a frame is stylized exactly as without
this stage.

Frames are float RGB ``(B, 3, H, W)`` in [0, 1], in display order; features
``(B, C, h, w)``. A batch is processed in order, frame by frame where the
recursion needs it (cheap: the model's work stays batched).

In a render the stage runs inside the model call: :meth:`Temporal.hooks`
gives one batch's :class:`TemporalHooks`, which
:meth:`vidstyle.stylize.Stylizer.stylize` calls around its encoder and
decoder (:class:`vidstyle.stylize.BatchHooks`)::

    state = Temporal(TemporalSettings())
    for batch in batches:                                   # frames in order
        out = stylizer.stylize(batch.rgb, looks, hooks=state.hooks(new_shot))

The same by hand (``small`` is the batch at the network's working size,
``new_shot`` a flag per frame, ``indices`` the frames' indices in the video)::

    motion = state.motion(small, new_shot, regrid=state.regrid(indices))  # flow, weights, grid phase
    feats = encoder(state.source(small, motion))            # the frames at their grid phase
    target = state.features(feats, motion, style_mean, style_std)
    # or, for any look: transfer with state.content_stats(feats, motion),
    # then state.blend_features(target, motion)
    out = state.output(decoder(target), motion)             # blended, shifted back; before colour and resizing
"""
from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from dataclasses import dataclass, field

import torch
from torch.nn import functional as F

from .stats import channel_stats

__all__ = [
    "TemporalSettings",
    "Motion",
    "Temporal",
    "TemporalHooks",
    "luma",
    "flow_shape",
    "flow",
    "flow_both_ways",
    "lk_flow",
    "dis_flow",
    "warp",
    "resize_flow",
    "snap_to_global",
    "camera_motion",
    "consistent",
    "blend_weight",
    "stillness",
    "released",
    "ema_stats",
    "contrast_blend",
    "adain_with_stats",
    "fit_camera",
    "camera_flow",
    "camera_holds",
    "lanczos_taps",
    "camera_carry",
    "camera_moves",
    "FLOW_METHODS",
]

FLOW_METHODS = ("lk", "dis")
# The encoder's three stride-2 poolings and the decoder's three 2x upsamplings:
# the network is equivariant to shifts by whole multiples of this many pixels only.
GRID = 8
# Camera motion below this (pixels of the working size per frame) is taken as none by the grid phase lock.
STILL = 0.02


# --------------------------------------------------------------------------- #
# Settings
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class TemporalSettings:
    """How strongly, and with what flow, video is steadied.

    Args:
        stats: steady statistics, the weight of the past in the moving average
            of the content's channel mean and std (0: each frame's own; 0.9:
            a time constant of about 10 frames).
        features: weight of the warped previous relu4_1 features where the
            flow is trusted (0: off).
        output: weight of the warped previous output where the flow is
            trusted (0: off).
        flow_size: the longest side, in pixels, that flow is computed at.
        flow_method: ``"lk"`` (built in: pyramidal Lucas-Kanade in torch, on
            the model's device) or ``"dis"`` (OpenCV's DIS, needs
            ``opencv-python-headless``).
        tolerance: how much the source may differ after warping (mean abs,
            in [0, 1]) before a pixel is let through as new in the feature
            blend (and ``source``): the blend weight falls as
            ``exp(-(diff / tolerance)^2)``.
        output_tolerance: the same for the output blend. Looser than the
            features': where a person walks through a still shot, the flow
            (at ``flow_size``) misses the outline by a fraction of a pixel,
            the source differs there after warping, and a tight gate let the
            decoder's new strokes through at exactly the edges that flicker
            most. Where the flow fails the forward-backward check the picture
            is still the new frame's, so trails stay short (the tests' square
            moving 8 px a frame leaves 0.035 of its contrast behind, 0.030
            with this at 0.05), but a face that turns keeps a little more of
            the previous strokes. The features' gate stays tight (a loose one
            there moved the structure more for the same steadiness).
            Measured (benchmarks/RESULTS-flicker.md, output-tolerance-512):
            0.15 against 0.05 took the sample clips
            from 2.09 / 1.89 / 1.65 to 1.93 / 1.85 / 1.57 times the source's
            flicker, and their structure from 2.9% / 2.4% / 3.3% further
            from unsteadied to 3.4% / 2.7% / 4.1% (the frames that start a
            shot not scored: milder-512; both before ``release``).
        release: where a pixel's flow differs from the camera's (the flow's
            median, pixels of the flow size) by this much or more, the
            features' blend keeps none of its past, and from no difference
            to this one its weight falls linearly to 0; 0 turns this off.
            What moves in the shot, a person walking past, is where the
            features' blend cost the structure most (on the fixed camera,
            the 9% of the relu4_1 cells with motion had 14% more structure
            error than unsteadied, 2.0 of the 3.4 points the whole frame
            had moved): their warped past is misplaced by a fraction of a
            pixel and smears them. The output blend, gated on its own,
            still steadies them.
            Measured (benchmarks/RESULTS-flicker.md, release-512): 0.5
            against 0 took the sample clips' structure from 3.4% / 2.7% /
            4.1% further from unsteadied to 2.9% / 2.0% / 2.9%, for 1.93 /
            1.85 / 1.57 to 2.01 / 1.90 / 1.63 times the source's flicker
            (0.25 and 1.0 px gave the same within 0.02 and 0.2 points).
        stroke_tolerance: the output blend keeps less of the past where the
            decoder's new frame differs from the warped past output (mean
            absolute difference over 3x3 pixels and the channels, ``d``):
            its weight times ``exp(-(d / stroke_tolerance)^2)``; 0 turns this
            off. The decoder redraws a steady picture within a few hundredths
            (its flicker, which the blend is for), but strokes that no grid
            shift lines up with the past's (a zoom, a person walking past)
            come out different, and averaging two stroke patterns washes
            both out: what the contrast-keeping blend gives back is a fine
            cross-hatch, not the style's strokes. Measured
            (benchmarks/RESULTS-flicker.md, strokes-512): 0.5 against 0 took
            the three sample clips' structure from 2.9% / 2.0% / 2.9% further
            from unsteadied to 2.1% / 1.6% / 2.2%, and the moving camera's
            style fraction from 3.3% to 2.9% (every picture score within 3%),
            for 2.01 / 1.90 / 1.63 to 2.19 / 1.97 / 1.71 times the source's
            flicker. It does not mend a fast zoom (``zoom_dune.mp4``: style
            fraction +22% from unsteadied, +24% without it; 0.3 takes that
            to +12% but the fixed camera to 2.40 times): ``zoom_release``
            does.
        zoom_release: where the camera's zoom alone moves a pixel by this
            much a frame apart from the frame's centre (pixels of the flow
            size; :func:`zoom_apart` of a pan and zoom fitted to the flow,
            :func:`fit_camera`, on every other pixel), the output blend keeps
            none of its past, and from none to this its weight falls
            linearly; 0 turns this off. The grid phase lock follows a
            camera's translation, not its zoom, so a zoom's strokes never
            line up with the past's and blending them washes the style out.
            The scale is fitted to the snapped flow: where the camera's
            translation explains the picture as well as the local flow, there
            is no zoom to let go of, and a still camera or a pan keeps its
            weights; with ``carry`` on, a frame where the zoom moves any pixel
            by half of this or more copies nothing. Measured
            (benchmarks/RESULTS-flicker.md, zoom-512): 2 against 0 took a fast
            zoom (``zoom_dune.mp4``) from 4.06 to 5.64 times the source's
            flicker (7.06 unsteadied) and its style fraction from 22.1% to
            3.0% further from the style than unsteadied; the fixed camera
            the same to every digit, the cut clip within 0.001 of the ratio,
            the moving camera (its pan zooms 0.35% a frame) from 1.97 to
            1.99, its style +2.9% both ways.
        min_consistent: a frame whose flow from its predecessor is consistent
            on less than this fraction of pixels starts a new shot.
        renormalise: after blending features, give each channel back the
            style's mean and std (blending two feature maps narrows their spread).
        resample: how the previous output is warped, ``"bicubic"`` or
            ``"bilinear"``. Blended back frame after frame, every resampling
            blurs a little more wherever the picture moves; bicubic blurs less.
        feature_resample: the same for the previous relu4_1 features. Bilinear
            is cheaper (the features have 512 channels: 1.7 against 7.0 ms a
            warp at the default size on one CPU thread), but it costs style
            and structure: on the moving camera the style fraction moved
            +5.7% from off instead of +4.7%, on the fixed camera the structure
            +3.4% instead of +2.8% (benchmarks/RESULTS-flicker.md,
            default-512-preroll). Bicubic stays the default.
        contrast: 0 for a plain output blend, or the window (odd, in pixels
            of the working size) of :func:`contrast_blend`, which keeps the
            new frame's local contrast (a plain blend of strokes that do not
            line up washes them out).
        source: weight of the warped previous *source* frame (as the encoder
            saw it) where the flow is trusted: a recursive, flow-compensated
            average of the input that takes the sensor and codec noise out
            before the network amplifies it (0: off).
        phase: lock the picture to the network's 8-pixel grid: each frame is
            shifted (by at most 4 px) so that the scene sits at the same
            phase of the grid as in the previous frame, and the result is
            shifted back (see :class:`Motion`).
        snap: where the camera's motion (the flow's median) predicts the
            source within this much (mean abs in [0, 1]) of the local flow, it
            replaces the local flow (:func:`snap_to_global`; 0: off).
        phase_period: the lock starts again (shift 0) at every frame whose
            index in the video is a multiple of this (the render loop says
            which: ``regrid`` in :meth:`Temporal.motion`). A farm chunk
            follows the flow alone (:meth:`motion` without the model, about
            20 ms a frame on one CPU thread at the default size, 7% of a
            model frame) from the last restart before its warm-up, so the
            period bounds that pre-roll. Only the phase starts again, not the
            memory (with ``carry``, the memory too), so for a few frames the
            blends mix strokes drawn at two phases, which washes some of the
            style out (on the moving camera at its own size, with the
            previous decoder, frames 16-18 after a restart were 31% further
            from the style than without steadying, against a few per cent
            elsewhere). A restart every 240 frames
            (8-10 s of video) leaves that on about 1% of the frames; one
            every 16 left it on 19% (benchmarks/RESULTS-flicker.md,
            default-512-preroll).
        still_features, still_output: the weights of the past (as ``features``
            and ``output``) where the source stands still (:func:`stillness`:
            no motion, no change beyond the codec's noise); in between, the
            weight goes from ``features``/``output`` to these with the
            stillness. 0: the same as elsewhere. A still background's strokes
            line up from frame to frame, so more of the past can be kept there
            without washing the style out; moving and changed pixels keep the
            usual weights (no ghosts, the style kept where the strokes move).
        still_motion: the flow (pixels of the flow size) at which a pixel is
            still to ``exp(-1)`` (the stillness falls as ``exp(-(|flow| / still_motion)^2)``).
        still_tolerance: the same for the source's change after warping (mean
            abs in [0, 1], over 3x3 pixels): about the codec's noise.
        still_plain: where the source stands still, blend the output plainly
            rather than with :func:`contrast_blend` (its strokes line up: there
            is no contrast to give back, and scaling the detail up to the new
            frame's would bring its flicker back).
        still_copy: where the source stands still and the decoder's new
            strokes are within this much (mean abs in [0, 1], over 3x3 pixels
            and the channels) of the warped past, the past is copied outright
            (:func:`_copied`: ``still * exp(-(d / still_copy)^2)``; 0: off).
            The decoder redraws a still background's strokes a little
            differently on every frame; an average of those wobbles washes the
            strokes out, a copy keeps one frame's strokes whole. A change of
            the strokes well beyond this (new light, a shadow) comes through
            as without it.
        carry: copy the past along the camera (0: off). Per frame, a camera
            model (a zoom and a shift per axis, :func:`fit_camera`) is fitted
            to the local flow; where it predicts the source within this much
            (mean abs in [0, 1], over 3x3 pixels; :func:`camera_holds`), the
            previous output, resampled by the model (:func:`camera_carry`,
            Lanczos), replaces the blended one. A copy keeps the strokes whole
            where any blend of strokes that do not line up washes them out,
            but it never forgets: with the carry on, the whole memory starts
            again at every ``phase_period``-th frame, as at a cut, so that a
            farm chunk that starts its warm-up there matches a single render
            exactly. Its cost to the structure and style grows with the age
            of that memory (measured over 144 frames: see the module's notes).
            With ``zoom_release``, a frame whose camera's zoom moves any pixel
            by half of it or more copies nothing: a copy along a zoom magnifies
            the old strokes frame after frame (a fast zoom's style fraction
            went 43.6% further from the style than unsteadied with the copy,
            3.0% without; benchmarks/RESULTS-flicker.md, carry-zoom-512),
            and a copy mixed into the blend by a weight below 1 averages two
            stroke patterns (+104.5%, a scratch run).
        carry_agree: where the local flow differs from the camera model by
            more than this (pixels of the flow size), nothing is copied (a
            person walking slowly in flat clothes matches a still camera's
            picture, but not its flow); 0: the picture alone decides.
        carry_near, carry_redraw: with a camera that stands still, within
            ``carry_near // 2`` pixels (of the working size; odd, 0: off) of
            what the carry leaves out, the past is copied only as far as the
            decoder redrew it alike: ``exp(-(d / carry_redraw)^2)`` of the
            mean abs difference over 3x3 pixels and the channels. The
            decoder's strokes around a person reach past its silhouette;
            without this, a copy keeps that halo after the person has moved
            on. Not with a moving camera: its carried strokes are resampled,
            and a partial copy there is a blend that washes them out.
        carry_edge: with a moving camera, nothing is copied from within this
            many pixels (of the working size) of the previous frame's sides.
            The decoder draws the picture that enters at a side against its
            padding, and a copy would carry those strokes inwards and keep
            them: on the moving camera the style fraction moved +4.7% from
            off with the sides copied, +2.4% without their outer 8 px, +3.1%
            without 16 px (the warping error 1.34, 1.46 and 1.54 times the
            source's; benchmarks/RESULTS-flicker.md, carry-edge-512). A still
            camera's copy keeps its sides, which every frame drew in the
            same place.
    """

    stats: float = 0.0
    features: float = 0.9
    output: float = 0.8
    flow_size: int = 192
    flow_method: str = "lk"
    tolerance: float = 0.05
    output_tolerance: float = 0.15
    release: float = 0.5
    stroke_tolerance: float = 0.5
    zoom_release: float = 2.0
    min_consistent: float = 0.3
    renormalise: bool = True
    resample: str = "bicubic"
    feature_resample: str = "bicubic"
    contrast: int = 5
    source: float = 0.0
    phase: bool = True
    phase_period: int = 240
    snap: float = 0.001
    still_features: float = 0.0
    still_output: float = 0.85
    still_motion: float = 0.1
    still_tolerance: float = 0.01
    still_plain: bool = False
    still_copy: float = 0.04
    carry: float = 0.0
    carry_agree: float = 0.0
    carry_near: int = 31
    carry_redraw: float = 0.16
    carry_edge: float = 8.0

    @property
    def still(self) -> bool:
        """True when still pixels get weights of their own (:func:`stillness` is computed)."""
        return (self.still_features > 0 or self.still_output > 0 or self.still_copy > 0
                or (self.still_plain and self.contrast > 0))

    @classmethod
    def off(cls) -> TemporalSettings:
        """No steadying at all: every frame stylized on its own."""
        return cls(stats=0.0, features=0.0, output=0.0, source=0.0, phase=False, snap=0.0, still_output=0.0,
                   still_copy=0.0)

    def check(self) -> TemporalSettings:
        for name in ("stats", "features", "output", "source", "still_features", "still_output"):
            v = getattr(self, name)
            if not (0.0 <= v < 1.0) or math.isnan(v):
                raise ValueError(f"temporal {name} strength must be in [0, 1), got {v}")
        if self.flow_size < 16:
            raise ValueError(f"flow size must be at least 16 pixels, got {self.flow_size}")
        if self.flow_method not in FLOW_METHODS:
            raise ValueError(f"unknown flow method {self.flow_method!r}: use {' or '.join(FLOW_METHODS)}")
        if not (self.tolerance > 0 and self.output_tolerance > 0):
            raise ValueError(f"tolerances must be positive, got {self.tolerance}, output {self.output_tolerance}")
        if not self.release >= 0:
            raise ValueError(f"release must be at least 0 pixels, got {self.release}")
        if not self.stroke_tolerance >= 0:
            raise ValueError(f"stroke tolerance must be at least 0, got {self.stroke_tolerance}")
        if not self.zoom_release >= 0:
            raise ValueError(f"zoom release must be at least 0 pixels, got {self.zoom_release}")
        if not 0.0 <= self.min_consistent <= 1.0:
            raise ValueError(f"min_consistent must be in [0, 1], got {self.min_consistent}")
        for name in ("resample", "feature_resample"):
            if getattr(self, name) not in ("bilinear", "bicubic"):
                raise ValueError(f"{name} must be bilinear or bicubic, got {getattr(self, name)!r}")
        if not self.snap >= 0:
            raise ValueError(f"snap slack must be at least 0, got {self.snap}")
        if not (self.still_motion > 0 and self.still_tolerance > 0):
            raise ValueError(f"still motion and tolerance must be positive, got {self.still_motion}, {self.still_tolerance}")
        if not self.still_copy >= 0:
            raise ValueError(f"still copy tolerance must be at least 0, got {self.still_copy}")
        if self.phase_period < 1:
            raise ValueError(f"phase period must be at least 1 frame, got {self.phase_period}")
        if not (self.carry >= 0 and self.carry_agree >= 0 and self.carry_redraw > 0 and self.carry_edge >= 0):
            raise ValueError(f"carry tolerances must be at least 0 (redraw above 0), got {self.carry}, "
                             f"{self.carry_agree}, {self.carry_redraw}, edge {self.carry_edge}")
        if self.carry_near < 0 or (self.carry_near and self.carry_near % 2 == 0):
            raise ValueError(f"carry_near must be 0 (off) or odd, got {self.carry_near}")
        if self.contrast < 0 or (self.contrast and self.contrast % 2 == 0):
            raise ValueError(f"contrast window must be 0 (off) or odd, got {self.contrast}")
        return self

    @property
    def needs_flow(self) -> bool:
        return self.features > 0 or self.output > 0 or self.source > 0 or self.phase or self.carry > 0


# --------------------------------------------------------------------------- #
# Pure functions
# --------------------------------------------------------------------------- #


def luma(rgb: torch.Tensor) -> torch.Tensor:
    """Rec. 601 luma of RGB in [0, 1].

    Shape:
        ``(B, 3, H, W)`` -> ``(B, 1, H, W)``.
    """
    if rgb.ndim != 4 or rgb.shape[1] != 3:
        raise ValueError(f"expected RGB (B, 3, H, W), got {tuple(rgb.shape)}")
    w = torch.tensor([0.299, 0.587, 0.114], device=rgb.device, dtype=rgb.dtype).reshape(1, 3, 1, 1)
    return (rgb * w).sum(1, keepdim=True)


def flow_shape(height: int, width: int, size: int) -> tuple[int, int]:
    """The ``(h, w)`` flow is computed at: longest side at most ``size``, aspect kept."""
    scale = min(1.0, size / max(height, width))
    return max(8, round(height * scale)), max(8, round(width * scale))


@functools.lru_cache(maxsize=32)
def _base_grid(h: int, w: int, device: torch.device, dtype: torch.dtype) -> torch.Tensor:
    """Each pixel's own position ``(1, 2, h, w)`` (x, y), cached per size: every warp needs it."""
    ys, xs = torch.meshgrid(torch.arange(h, device=device, dtype=dtype), torch.arange(w, device=device, dtype=dtype), indexing="ij")
    return torch.stack([xs, ys], 0).unsqueeze(0)


def warp(x: torch.Tensor, flo: torch.Tensor, mode: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """Backward warp: ``out(p) = x(p + flo(p))`` (``mode`` "bilinear" or "bicubic"), and where ``p + flo(p)`` lies inside the frame.

    ``flo`` is in pixels of ``x``'s size (``flo[:, 0]`` along x, ``flo[:, 1]``
    along y); outside the frame the border is repeated.

    Shape:
        x ``(B, C, H, W)``, flo ``(B, 2, H, W)`` -> ``(B, C, H, W)`` and a ``(B, 1, H, W)`` bool mask.

    Example:
        >>> x = torch.arange(4.0).reshape(1, 1, 1, 4).expand(1, 1, 2, 4)
        >>> out, inside = warp(x, torch.tensor([1.0, 0.0]).reshape(1, 2, 1, 1).expand(1, 2, 2, 4))
        >>> out[0, 0, 0].tolist(), inside[0, 0, 0].tolist()
        ([1.0, 2.0, 3.0, 3.0], [True, True, True, False])
    """
    out, pos = _warp(x, flo, mode)
    h, w = x.shape[-2:]
    inside = (pos[:, :1] >= 0) & (pos[:, :1] <= w - 1) & (pos[:, 1:] >= 0) & (pos[:, 1:] <= h - 1)
    return out, inside


def _warp(x: torch.Tensor, flo: torch.Tensor, mode: str = "bilinear") -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`warp`'s picture, and the sampled positions ``p + flo(p)`` ``(B, 2, H, W)`` in pixels.

    For the callers that do not need the inside mask (most): it costs as much as the sampling at the flow size.
    """
    b, _, h, w = x.shape
    if flo.shape != (b, 2, h, w):
        raise ValueError(f"flow must be {(b, 2, h, w)} for x {tuple(x.shape)}, got {tuple(flo.shape)}")
    pos = _base_grid(h, w, flo.device, flo.dtype) + flo
    # grid_sample's coordinates: -1 and 1 at the corner pixels' centres (align_corners); one multiply-add
    # per value, in the same order as before, so the positions are the same to the last bit.
    to_unit = torch.tensor([2.0 / max(w - 1, 1), 2.0 / max(h - 1, 1)], device=flo.device, dtype=flo.dtype)
    grid = (pos.permute(0, 2, 3, 1) * to_unit - 1.0).to(x.dtype)
    return F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=True), pos


def resize_flow(flo: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resample a flow field to ``size`` ``(h, w)``, scaling its vectors with the picture.

    Shape:
        ``(B, 2, h0, w0)`` -> ``(B, 2, h, w)``.
    """
    h0, w0 = flo.shape[-2:]
    if (h0, w0) == tuple(size):
        return flo
    shrink = size[0] < h0 or size[1] < w0
    out = F.interpolate(flo, size=size, mode="bilinear", align_corners=False, antialias=shrink)
    return _rescaled(out, (h0, w0))


def _rescaled(flo: torch.Tensor, was: tuple[int, int]) -> torch.Tensor:
    """A flow resampled from size ``was`` to its own, its vectors scaled with the picture."""
    h, w = flo.shape[-2:]
    return flo * torch.tensor([w / was[1], h / was[0]], device=flo.device, dtype=flo.dtype).reshape(1, 2, 1, 1)


def _grad(x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Central differences along x and y, edges replicated. ``(B, 1, H, W)`` -> two of the same."""
    p = F.pad(x, (1, 1, 1, 1), mode="replicate")
    return 0.5 * (p[..., 1:-1, 2:] - p[..., 1:-1, :-2]), 0.5 * (p[..., 2:, 1:-1] - p[..., :-2, 1:-1])


def _window_sum(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """Sums of ``k`` consecutive samples along ``dim``: ``x.shape[dim] - k + 1`` of them.

    Sums of 1, 2, 4, ... samples, each one add from the last, then the binary
    digits of ``k``: O(log k) contiguous adds. A cumulative sum does fewer
    adds but runs along one row at a time (down the columns it takes half of
    the whole box's time) and loses precision to the differences of large sums.
    """
    n = x.shape[dim] - k + 1
    sums = [x]
    while 2 ** len(sums) <= k:
        s, m = sums[-1], 2 ** (len(sums) - 1)
        sums.append(s.narrow(dim, 0, s.shape[dim] - m) + s.narrow(dim, m, s.shape[dim] - m))
    out: torch.Tensor | None = None
    off = 0
    for j in reversed(range(len(sums))):
        if off + 2**j > k:
            continue
        part = sums[j].narrow(dim, off, n)
        out = part.clone() if out is None else out.add_(part)
        off += 2**j
    return out


def _window_max(x: torch.Tensor, k: int, dim: int) -> torch.Tensor:
    """The max over a centred window of ``k`` (odd) along ``dim``, for ``x >= 0`` (edges padded with 0).

    ``F.max_pool2d`` with the same window, to the bit, but by doubling: a
    window of 2n is the max of two of n, so 31 takes 6 passes, not 31 (max
    pooling compares every tap: 24 ms for two 384x288 frames on one thread).
    """
    r = k // 2
    n = x.shape[dim]
    pad = [0, 0] * (x.dim() - 1 - dim % x.dim()) + [r, r]
    m, width = F.pad(x, pad), 1
    while width * 2 <= k:
        m = torch.maximum(m.narrow(dim, 0, m.shape[dim] - width), m.narrow(dim, width, m.shape[dim] - width))
        width *= 2
    rest = k - width  # the last window of `width` starts `rest` later: together they cover k
    if rest:
        m = torch.maximum(m.narrow(dim, 0, m.shape[dim] - rest), m.narrow(dim, rest, m.shape[dim] - rest))
    return m.narrow(dim, 0, n)


def _box(x: torch.Tensor, k: int) -> torch.Tensor:
    """Mean over a ``k`` x ``k`` box (``k`` odd), edges replicated. ``(B, C, H, W)`` -> the same."""
    r = k // 2
    p = F.pad(x, (r, r, r, r), mode="replicate")
    return _window_sum(_window_sum(p, k, -2), k, -1).mul_(1.0 / (k * k))


def lk_flow(
    i0: torch.Tensor, i1: torch.Tensor, *, levels: int = 4, iters: int = 2, fine_iters: int | None = None,
    window: int = 9, reg: float = 1e-6,
) -> torch.Tensor:
    """Dense pyramidal Lucas-Kanade flow: ``u`` with ``i0(p) ~ i1(p + u(p))``.

    At each level of a 2x pyramid (coarsest first) ``iters`` Gauss-Newton
    steps (``fine_iters``, if given, at the finest level, three quarters of
    the pyramid's work) solve, for every pixel, the 2x2 least-squares system
    of the brightness constancy over a ``window`` x ``window`` box, with ``reg``
    (Tikhonov) keeping flat areas near the coarser estimate; the flow is then
    smoothed by the same box. Plain tensor ops: it runs batched on the device
    the frames are on. Occlusions and flat areas give wrong vectors, which
    :func:`consistent` catches.

    At the coarser levels, which find the large motions, a step's gradients
    are both frames' (``i0``'s and ``i1``'s warped), averaged afresh, which
    converges better. At the finest level they are ``i0``'s alone (the
    inverse-additive form: Hager and Belhumeur 1998, Baker and Matthews 2004),
    so its 2x2 systems are inverted once and each step boxes two products
    instead of five. That level is most of the work: the flow both ways costs
    about 20% less, and the steadied results hardly moved
    (benchmarks/RESULTS-flicker.md, default-512-lk). ``i0``'s gradients at
    every level were cheaper still but lost accuracy: on a texture moved by
    (4.25, 2.5) px the mean error was 0.38 px against 0.16.

    Shape:
        i0, i1 ``(B, 1, H, W)`` (grey, [0, 1]) -> ``(B, 2, H, W)`` in pixels.
    """
    if i0.shape != i1.shape or i0.ndim != 4 or i0.shape[1] != 1:
        raise ValueError(f"expected two grey (B, 1, H, W) frames of one size, got {tuple(i0.shape)} and {tuple(i1.shape)}")
    pyr = [(i0.float(), i1.float())]
    while len(pyr) < levels and min(pyr[-1][0].shape[-2:]) >= 2 * 16:
        a, b = pyr[-1]
        pyr.append((F.avg_pool2d(a, 2), F.avg_pool2d(b, 2)))
    u = torch.zeros(i0.shape[0], 2, *pyr[-1][0].shape[-2:], device=i0.device)
    for level in reversed(range(len(pyr))):
        a, b = pyr[level]
        u = resize_flow(u, tuple(a.shape[-2:]))
        steps = iters if level or fine_iters is None else fine_iters
        if steps:
            u = (_lk_steps_fixed if level == 0 else _lk_steps_averaged)(a, b, u, steps, window, reg)
        u = _box(u, 3)
    return u


def _boxed_products(pairs: Sequence[tuple[torch.Tensor, torch.Tensor]], window: int) -> torch.Tensor:
    """The products ``p * q`` written side by side (no cat), then one box for all of them.

    Shape:
        each of ``pairs`` two ``(B, 1, H, W)`` -> ``(B, len(pairs), H, W)``.
    """
    p0 = pairs[0][0]
    prod = torch.empty(p0.shape[0], len(pairs), *p0.shape[-2:], device=p0.device, dtype=p0.dtype)
    for j, (p, q) in enumerate(pairs):
        torch.mul(p, q, out=prod[:, j : j + 1])
    return _box(prod, window)


def _lk_steps_averaged(a: torch.Tensor, b: torch.Tensor, u: torch.Tensor, steps: int, window: int, reg: float) -> torch.Tensor:
    """Gauss-Newton steps of :func:`lk_flow` at one level, with the gradients of both frames averaged afresh."""
    ax, ay = _grad(a)
    n, _, h, w = a.shape
    for _ in range(steps):
        bw, _ = _warp(b, u)
        bx, by = _grad(bw)
        gx, gy = bx.add_(ax).mul_(0.5), by.add_(ay).mul_(0.5)
        gt = bw.sub_(a)
        s = _boxed_products(((gx, gx), (gx, gy), (gy, gy), (gx, gt), (gy, gt)), window)
        s[:, 0:3:2] += reg  # sxx and syy, in place: s is this step's own
        sxx, sxy, syy, sxt, syt = s.split(1, 1)
        det = (sxx * syy).sub_(sxy * sxy).clamp_min_(1e-12)
        # Cramer's rule for du = -S^-1 (sxt, syt), each component written in place.
        du = torch.empty(n, 2, h, w, device=a.device, dtype=a.dtype)
        torch.mul(sxy, syt, out=du[:, :1]).sub_(syy * sxt)
        torch.mul(sxy, sxt, out=du[:, 1:]).sub_(sxx * syt)
        u = u + du.div_(det).clamp_(-2.0, 2.0)
    return u


def _lk_steps_fixed(a: torch.Tensor, b: torch.Tensor, u: torch.Tensor, steps: int, window: int, reg: float) -> torch.Tensor:
    """The same steps with ``a``'s gradients alone: the 2x2 systems are inverted once for all the steps."""
    grad = torch.cat(_grad(a), 1)  # (n, 2, h, w): x, y
    gx, gy = grad[:, :1], grad[:, 1:]
    n, _, h, w = a.shape
    s = _boxed_products(((gx, gx), (gx, gy), (gy, gy)), window)
    s[:, 0:3:2] += reg
    sxx, sxy, syy = s.split(1, 1)
    det = (sxx * syy).sub_(sxy * sxy).clamp_min_(1e-12)
    # du = -S^-1 (sxt, syt) by Cramer's rule: the inverse's three entries, over the determinant.
    ixx, ixy, iyy = syy.div(det), sxy.div(det), sxx.div(det)
    for _ in range(steps):
        bw, _ = _warp(b, u)
        st = _box(grad * bw.sub_(a), window)
        sxt, syt = st[:, :1], st[:, 1:]
        du = torch.empty(n, 2, h, w, device=a.device, dtype=a.dtype)
        torch.mul(ixy, syt, out=du[:, :1]).sub_(ixx * sxt)
        torch.mul(ixy, sxt, out=du[:, 1:]).sub_(iyy * syt)
        u = u + du.clamp_(-2.0, 2.0)
    return u


def dis_flow(i0: torch.Tensor, i1: torch.Tensor, preset: str = "fast") -> torch.Tensor:
    """OpenCV's DIS flow (Kroeger et al. 2016): ``u`` with ``i0(p) ~ i1(p + u(p))``.

    Needs ``opencv-python-headless`` (the ``bench`` extra). Runs on the CPU,
    one pair at a time.

    Shape:
        i0, i1 ``(B, 1, H, W)`` grey in [0, 1] -> ``(B, 2, H, W)`` in pixels, on ``i0.device``.
    """
    try:
        import cv2
    except ImportError:
        raise ImportError("DIS flow needs OpenCV: pip install opencv-python-headless (or use the built-in 'lk' flow)") from None
    presets = {"ultrafast": cv2.DISOPTICAL_FLOW_PRESET_ULTRAFAST, "fast": cv2.DISOPTICAL_FLOW_PRESET_FAST,
               "medium": cv2.DISOPTICAL_FLOW_PRESET_MEDIUM}
    dis = cv2.DISOpticalFlow_create(presets[preset])
    a = (i0[:, 0].detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    b = (i1[:, 0].detach().float().cpu().clamp(0, 1) * 255).round().to(torch.uint8).numpy()
    out = [torch.from_numpy(dis.calc(x, y, None)).permute(2, 0, 1) for x, y in zip(a, b)]
    return torch.stack(out).to(i0.device)


def flow(i0: torch.Tensor, i1: torch.Tensor, method: str = "lk") -> torch.Tensor:
    """``u`` with ``i0(p) ~ i1(p + u(p))`` by ``method`` (:data:`FLOW_METHODS`). Shapes as :func:`lk_flow`."""
    flows = {"lk": lk_flow, "dis": dis_flow}
    if method not in flows:
        raise ValueError(f"unknown flow method {method!r}: use {' or '.join(FLOW_METHODS)}")
    return flows[method](i0, i1)


def flow_both_ways(cur: torch.Tensor, prev: torch.Tensor, method: str = "lk") -> torch.Tensor:
    """The backward flow ``cur -> prev`` and the forward one ``prev -> cur``, stacked: ``(2B, 2, H, W)``.

    The forward flow only checks the backward one (:func:`consistent`): with
    Lucas-Kanade one step at the finest level is enough for that (every number
    of ``benchmarks/RESULTS-flicker.md`` the same or better); the backward flow
    carries the past and keeps its two. None at all (the forward flow from the
    next level up) was cheaper but less steady: the warping error ratios rose
    by 0.4-1.9% on the three clips (a scratch run of the temporal study's measure).

    Shape:
        cur, prev ``(B, 1, H, W)`` -> ``(2B, 2, H, W)``, backward first.
    """
    if method == "lk":
        return torch.cat([lk_flow(cur, prev), lk_flow(prev, cur, fine_iters=1)])
    return flow(torch.cat([cur, prev]), torch.cat([prev, cur]), method)


def snap_to_global(u: torch.Tensor, i0: torch.Tensor, i1: torch.Tensor, slack: float, window: int = 9) -> torch.Tensor:
    """The flow, with the camera's own motion wherever that explains the picture as well.

    A local flow leaks: around a person walking through a still shot, and on
    flat areas where nothing pins it down, it drifts by a fraction of a pixel,
    and the past it carries is then misplaced (the picture's flat areas do
    not show it; the stylized strokes on them do). The camera's motion, the
    median of the flow, is the better answer wherever it predicts ``i0`` from
    ``i1`` within ``slack`` (mean abs over a ``window`` box) of the local flow.

    Shape:
        u ``(B, 2, H, W)``; i0, i1 ``(B, 1, H, W)``, with ``i0(p) ~ i1(p + u(p))`` -> ``(B, 2, H, W)``.
    """
    return _snap(u, i0, i1, slack, window)[0]


def camera_motion(u: torch.Tensor) -> torch.Tensor:
    """The camera's own motion in a flow: each frame's median vector.

    Shape:
        ``(B, 2, H, W)`` -> ``(B, 2, 1, 1)``.
    """
    return u.flatten(2).median(-1).values[:, :, None, None]


def _snap(u: torch.Tensor, i0: torch.Tensor, i1: torch.Tensor, slack: float, window: int = 9,
          camera: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor]:
    """:func:`snap_to_global`'s flow, and ``i1`` warped by it (``_warp(i1, flow)``, bit for bit).

    A bilinear warp's pixel depends on that pixel's vector only, so the
    warped picture is the chosen candidate's, pixel by pixel: no warp more.
    ``camera`` is :func:`camera_motion` of ``u`` where the caller has it.
    """
    b = u.shape[0]
    g = (camera_motion(u) if camera is None else camera).expand_as(u)
    # Both candidates in one batch: one warp and one box instead of two each (each frame is its own).
    warped, _ = _warp(torch.cat([i1, i1]), torch.cat([u, g]))
    err = _box((warped - torch.cat([i0, i0])).abs(), window)
    e_local, e_global = err[:b], err[b:]
    take = e_global <= e_local + slack
    return torch.where(take, g, u), torch.where(take, warped[b:], warped[:b])


def consistent(back: torch.Tensor, fwd: torch.Tensor, alpha: float = 0.01, beta: float = 0.5) -> torch.Tensor:
    """Where the backward flow can be trusted: forward-backward check, inside the frame.

    ``back`` takes frame t to t-1 (``I_t(p) ~ I_{t-1}(p + back(p))``) and
    ``fwd`` frame t-1 to t. A pixel is kept when following ``back`` and then
    ``fwd`` comes home: ``|back + fwd(p + back)|^2 <= alpha (|back|^2 +
    |fwd(p + back)|^2) + beta`` (Sundaram et al. 2010; Ruder et al. 2016),
    and ``p + back(p)`` lies inside frame t-1. Occluded and disoccluded pixels
    fail, as does a cut (unrelated frames give flows that disagree).

    Shape:
        ``(B, 2, H, W)`` twice -> ``(B, 1, H, W)`` bool.
    """
    f_at, inside = warp(fwd, back)
    err = (back + f_at).pow(2).sum(1, keepdim=True)
    bound = alpha * (back.pow(2).sum(1, keepdim=True) + f_at.pow(2).sum(1, keepdim=True)) + beta
    return (err <= bound) & inside


def blend_weight(cur: torch.Tensor, prev_warped: torch.Tensor, valid: torch.Tensor, tolerance: float) -> torch.Tensor:
    """How much of the warped past to keep, per pixel, in [0, 1].

    Zero where the flow is not trusted (``valid`` false); elsewhere
    ``exp(-(d / tolerance)^2)`` of ``d = |cur - prev_warped|`` of the source,
    so a pixel whose source changed (a moving object the flow missed, new
    content, a flash) takes the new frame: no ghost trails.

    Shape:
        cur, prev_warped ``(B, 1, H, W)``; valid ``(B, 1, H, W)`` -> ``(B, 1, H, W)``.
    """
    d = (cur - prev_warped).abs()
    return torch.exp(-(d / tolerance).pow(2)) * valid.to(cur.dtype)


def _local_diff(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """``|a - b|``, averaged over the channels and 3x3 pixels: one pixel's codec noise should not decide.

    Shape:
        a, b ``(B, C, H, W)`` -> ``(B, 1, H, W)``.
    """
    d = (a - b).abs()
    return _box(d if d.shape[1] == 1 else d.mean(1, keepdim=True), 3)


def stillness(back: torch.Tensor, cur: torch.Tensor, prev_warped: torch.Tensor, motion: float,
              tolerance: float) -> torch.Tensor:
    """How still each pixel of the source is, in [0, 1]: 1 where it neither moved nor changed.

    ``exp(-(|back| / motion)^2 - (d / tolerance)^2)`` with ``d`` the source's
    change after warping, ``|cur - prev_warped|`` averaged over 3x3 pixels (a
    single pixel's codec noise should not decide it). Where this is 1 the
    stylizer sees the same picture in the same place as before, so whatever
    it draws differently is its own flicker, and the past can be kept there
    (``still_features``, ``still_output``); a moving person, or the flow's
    leak around one that :func:`snap_to_global` did not catch, is not still.

    Shape:
        back ``(B, 2, H, W)``; cur, prev_warped ``(B, 1, H, W)`` -> ``(B, 1, H, W)``.
    """
    d = _local_diff(cur, prev_warped)
    return torch.exp(-(back.pow(2).sum(1, keepdim=True) / motion**2) - (d / tolerance).pow(2))


def released(back: torch.Tensor, release: float, camera: torch.Tensor | None = None) -> torch.Tensor:
    """How much of the past a pixel may keep for what it does apart from the camera, in [0, 1].

    1 where the flow is the camera's (each frame's median flow), falling
    linearly to 0 where it differs from it by ``release`` pixels or more:
    something moving in the shot. ``camera`` is :func:`camera_motion` of
    ``back`` where the caller has it (a snapped flow's median is the local
    flow's: the snap only replaces vectors by that median).

    Shape:
        ``(B, 2, H, W)`` -> ``(B, 1, H, W)``.

    Example:
        >>> back = torch.zeros(1, 2, 3, 3); back[0, 0, 1, 1] = 0.25; back[0, 0, 2, 2] = 2.0
        >>> released(back, 0.5)[0, 0].tolist()
        [[1.0, 1.0, 1.0], [1.0, 0.5, 1.0], [1.0, 1.0, 0.0]]
    """
    camera = camera_motion(back) if camera is None else camera
    # hypot, not norm(dim=1): the same lengths, 60 times faster on this CPU (5.2 against 0.08 ms a batch of 2).
    return (1 - torch.hypot(*(back - camera).unbind(1)).unsqueeze(1) / release).clamp(0, 1)


def contrast_blend(cur: torch.Tensor, past: torch.Tensor, weight: torch.Tensor, window: int = 5,
                   plain: torch.Tensor | None = None) -> torch.Tensor:
    """Blend ``past`` into ``cur`` by ``weight`` keeping the local contrast of ``cur``.

    A plain blend of two textures that do not line up (a stylizer's strokes
    redrawn a little differently on every frame) lowers their contrast: that
    is how averaging washes out the style. Here each image is split into its
    local mean (a ``window`` box) and the detail around it; the means are
    blended as usual, the details too, and the blended detail is then scaled
    so that its local variance is that of ``cur``'s detail (the variance of a
    weighted sum is known from the two variances and their covariance, so
    where the two agree nothing is scaled, and where they disagree the lost
    contrast comes back). The idea is variance-preserving blending from
    texture synthesis (Heitz & Neyret 2018, "High-performance by-example
    noise using a histogram-preserving blending operator").

    Where ``plain`` (in [0, 1]) is 1, the detail is not scaled: a plain blend
    (for strokes that line up, such as a still background's, whose lost
    contrast is only the new frame's flicker averaged away).

    Shape:
        cur, past ``(B, C, H, W)``, weight and plain ``(B, 1, H, W)`` in [0, 1] -> ``(B, C, H, W)``.
    """
    c = cur.shape[1]
    # The box is per channel: two boxes of both images' channels side by side cost less than four.
    both = torch.cat([cur, past], 1)
    means = _box(both, window)
    m_cur, m_past = means[:, :c], means[:, c:]
    detail = both.sub_(means)
    d_cur, d = detail[:, :c], detail[:, c:]
    # The blended detail takes the past's place (elementwise, so in place is safe): [d_cur, d] side by side.
    torch.lerp(d_cur, d, weight, out=d)
    var = _box(detail.square(), window)
    scale = var[:, :c].div_(var[:, c:].clamp_min(1e-8)).sqrt_().clamp_(1.0, 2.0)
    if plain is not None:
        scale = scale.lerp_(torch.ones_like(scale), plain)
    return torch.lerp(m_cur, m_past, weight).addcmul_(d, scale).clamp_(0, 1)


def _copied(d: torch.Tensor, still: torch.Tensor, tolerance: float) -> torch.Tensor:
    """Where to copy the past outright: still pixels whose new strokes are within ``tolerance`` of the old.

    ``still * exp(-(d / tolerance)^2)``, ``d`` the new strokes' distance from the old
    (:func:`_local_diff`: the mean abs difference over 3x3 pixels and the channels).

    Shape:
        d, still ``(B, 1, H, W)`` -> ``(B, 1, H, W)``.
    """
    return still * torch.exp(-(d / tolerance).square())


def ema_stats(
    mean: torch.Tensor, std: torch.Tensor, prev: tuple[torch.Tensor, torch.Tensor] | None, keep: float
) -> tuple[torch.Tensor, torch.Tensor]:
    """One step of the steady statistics: ``keep * prev + (1 - keep) * now`` (``now`` when no ``prev``).

    Shape:
        mean, std and prev's two ``(1, C, 1, 1)`` -> two ``(1, C, 1, 1)``.
    """
    if prev is None or keep == 0:
        return mean, std
    return torch.lerp(mean, prev[0], keep), torch.lerp(std, prev[1], keep)


def adain_with_stats(
    content: torch.Tensor, c_mean: torch.Tensor, c_std: torch.Tensor, s_mean: torch.Tensor, s_std: torch.Tensor
) -> torch.Tensor:
    """AdaIN with given content statistics: ``(content - c_mean) / c_std * s_std + s_mean``.

    With each frame's own statistics this is :func:`vidstyle.stats.adain`;
    steady statistics pass their moving averages instead.

    Shape:
        content ``(B, C, H, W)``; the statistics ``(B or 1, C, 1, 1)`` -> ``(B, C, H, W)``.
    """
    return ((content.float() - c_mean) / c_std * s_std + s_mean).to(content.dtype)


def _lanczos(d: torch.Tensor, a: int = 3) -> torch.Tensor:
    """The Lanczos-``a`` kernel at distances ``d`` (float64): ``sinc(d) sinc(d / a)``, 0 from ``|d| >= a``."""
    pd = math.pi * d
    w = a * torch.sin(pd) * torch.sin(pd / a) / (pd * pd).clamp_min(1e-18)
    return torch.where(d.abs() < 1e-9, torch.ones_like(d), torch.where(d.abs() >= a, torch.zeros_like(d), w))


def _lanczos_taps(frac: float, a: int = 3) -> list[float]:
    """The ``2a`` Lanczos-``a`` weights of samples ``-a+1 .. a`` around a point ``frac`` in [0, 1) past sample 0."""
    taps = _lanczos(frac - torch.arange(-a + 1, a + 1, dtype=torch.float64), a)
    return (taps / taps.sum()).tolist()


def _shift_along(x: torch.Tensor, shift: float, dim: int, a: int = 3) -> torch.Tensor:
    """``x(p + shift)`` along ``dim`` (-1: x, -2: y) by Lanczos-``a`` (exact for a whole shift), edges reflected."""
    n = math.floor(shift)
    taps = _lanczos_taps(shift - n, a)
    pad = abs(n) + a
    size = x.shape[dim]
    xp = F.pad(x, (pad, pad, 0, 0) if dim == -1 else (0, 0, pad, pad), mode="reflect")
    out = None
    for k, t in zip(range(-a + 1, a + 1), taps):
        if t == 0.0:
            continue
        part = xp.narrow(dim, pad + n + k, size)
        # Accumulated in place: a third of the time of a new tensor per tap.
        out = part * t if out is None else out.add_(part, alpha=t)
    return out


def _shifted(x: torch.Tensor, shift: torch.Tensor) -> torch.Tensor:
    """``x(p + shift)`` for one constant ``shift`` ``(2,)`` (x, y) in pixels, by separable Lanczos-3.

    A constant shift needs no general warp: two 6-tap filters, whose pass band
    is much flatter than bicubic's (a subpixel shift blurs less), and exact
    (``x`` itself) for a whole-pixel shift.

    Shape:
        ``(B, C, H, W)`` -> ``(B, C, H, W)``.
    """
    dx, dy = (float(v) for v in shift)
    if dx == 0 and dy == 0:
        return x
    return _shift_along(_shift_along(x, dx, -1), dy, -2)


def _renormalise(x: torch.Tensor, mean: torch.Tensor, std: torch.Tensor) -> torch.Tensor:
    """:func:`adain_with_stats` of ``x`` with its own statistics, as one multiply-add per value.

    ``(x - m) / s * std + mean = x * a + (mean - m * a)`` with ``a = std / s``:
    the per-channel factors first, then a single pass over the features
    instead of four.

    Shape:
        x ``(B, C, H, W)`` float; mean, std ``(B, C, 1, 1)`` -> ``(B, C, H, W)``.
    """
    m, sd = channel_stats(x)
    a = std / sd
    return torch.addcmul(mean - m * a, x, a)


def fit_camera(back: torch.Tensor, ok: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """A camera model fitted to a backward flow: per axis, ``previous = scale * current + shift``.

    Pixel centres in pixels of ``size`` ``(H, W)`` (the flow may be smaller).
    A straight line by least squares over the ``ok`` pixels, then three times
    more with the fifth of all pixels that fit worst left out (people walking
    through the shot, the flow's leaks). In float64 and centred: float32's
    least squares on this problem (coordinates in the hundreds beside a
    column of ones) returned a scale of 1.0102 where the answer was 0.9967.
    A pan, a zoom and a camera that stands still are this model; a rotation
    or a parallax is not, and the places it leaves unexplained are left to
    the blends (:func:`camera_holds`).

    Shape:
        back ``(1, 2, h, w)``, ok ``(h, w)`` bool -> ``(4,)`` float64: scale_x, shift_x, scale_y, shift_y.
    """
    fh, fw = back.shape[-2:]
    rows, cols = ok.nonzero(as_tuple=True)
    fit = []
    for axis, (c, k) in enumerate(((cols, size[1] / fw), (rows, size[0] / fh))):
        x = (c.double() + 0.5) * k - 0.5
        y = x + back[0, axis][ok].double() * k
        keep = torch.ones_like(x, dtype=torch.bool)
        worst = max(1, math.ceil(0.8 * x.numel()))
        for step in range(4):
            xk, yk = x[keep], y[keep]
            dx = xk - xk.mean()
            var = float(dx.square().sum())
            # Every trusted pixel in one column (or none at all): only a shift can be told.
            scale = float((dx * (yk - yk.mean())).sum()) / var if var > 1e-9 else 1.0
            shift = float(yk.mean() - scale * xk.mean()) if xk.numel() else 0.0
            if step < 3:
                r = (scale * x + shift - y).abs()
                keep = r <= r.kthvalue(worst).values
        fit += [scale, shift]
    return torch.tensor(fit, dtype=torch.float64)


def camera_flow(model: torch.Tensor, shape: tuple[int, int], size: tuple[int, int]) -> torch.Tensor:
    """The backward flow a camera model (:func:`fit_camera`, pixels of ``size``) gives at the flow's ``shape``.

    Shape:
        model ``(4,)`` -> ``(1, 2, *shape)`` in pixels of ``shape``.
    """
    h, w = shape
    kx, ky = size[1] / w, size[0] / h
    sx, tx, sy, ty = model.tolist()
    xs = (torch.arange(w, dtype=torch.float64) + 0.5) * kx - 0.5
    ys = (torch.arange(h, dtype=torch.float64) + 0.5) * ky - 0.5
    fx = ((sx - 1) * xs + tx) / kx
    fy = ((sy - 1) * ys + ty) / ky
    return torch.stack([fx.expand(h, w), fy[:, None].expand(h, w)]).unsqueeze(0).float()


def zoom_apart(model: torch.Tensor, shape: tuple[int, int]) -> torch.Tensor:
    """How far a camera model's zoom alone moves each pixel a frame, apart from the frame's centre.

    The length of the model's flow (:func:`camera_flow`) less its mean:
    ``|scale - 1|`` times the distance from the centre, per axis; what is
    left once the translation (which the grid phase lock follows) is taken
    out. ``model`` in pixels of
    ``shape`` (:func:`fit_camera`).

    Shape:
        model ``(4,)``, shape ``(h, w)`` -> ``(1, 1, h, w)`` in pixels of ``shape``.

    Example:
        >>> model = torch.tensor([1.1, 0.0, 1.0, 0.0], dtype=torch.float64)  # a 10% zoom along x
        >>> [round(v, 3) for v in zoom_apart(model, (1, 4))[0, 0, 0].tolist()]
        [0.15, 0.05, 0.05, 0.15]
    """
    flow = camera_flow(model, shape, shape)
    # Less the frame's mean flow, which is the model's translation at the centre: the zoom's part alone.
    return torch.hypot(*(flow - flow.mean((2, 3), keepdim=True)).unbind(1)).unsqueeze(1)


def _zoom_gate(back: torch.Tensor, ok: torch.Tensor, release: float) -> torch.Tensor:
    """Per frame, ``1 - zoom_apart / release`` (clamped) of a camera fitted on every other pixel of ``back``; 1
    where too few pixels are trusted to fit one.

    Shape:
        back ``(B, 2, h, w)``, ok ``(B, 1, h, w)`` bool -> ``(B, 1, h, w)``.
    """
    b, _, h, w = back.shape
    # Every other pixel: a quarter of the fit's work, and its scale the same (the vectors halved with the grid).
    sub, ok_sub = back[:, :, ::2, ::2] / 2, ok[:, 0, ::2, ::2]
    gates = []
    for i in range(b):
        if int(ok_sub[i].sum()) < 16:
            gates.append(torch.ones(1, 1, h, w, device=back.device, dtype=back.dtype))
            continue
        model = fit_camera(sub[i : i + 1], ok_sub[i], (h, w))
        gates.append((1 - zoom_apart(model, (h, w)) / release).clamp(0, 1).to(back.device, back.dtype))
    return torch.cat(gates)


def camera_holds(cur: torch.Tensor, prev: torch.Tensor, back: torch.Tensor, model: torch.Tensor,
                 size: tuple[int, int], tolerance: float, agree: float) -> torch.Tensor:
    """Where a camera model explains the source: 1 where its past can be copied, else 0.

    The previous source moved by the model must match the current one within
    ``tolerance`` (mean abs over 3x3 pixels), and the local flow ``back`` must
    agree with the model within ``agree`` pixels (of the flow): a slowly
    walking person in flat clothes matches a still camera's picture, but
    the flow sees it move, and its strokes must move with it. The map is
    then eroded by one pixel.

    Shape:
        cur, prev ``(1, 1, h, w)``; back ``(1, 2, h, w)``; model ``(4,)`` -> ``(1, 1, h, w)``.
    """
    model_flow = camera_flow(model, tuple(cur.shape[-2:]), size).to(cur.device)
    moved, _ = _warp(prev, model_flow)
    holds = _local_diff(cur, moved) < tolerance
    if agree > 0:
        holds &= (back - model_flow).square().sum(1, keepdim=True) < agree**2
    # Eroded by a pixel: the 3x3 difference lets a moving edge's neighbours pass, and they would keep its trail.
    return -F.max_pool2d(-holds.to(cur.dtype), 3, 1, 1)


def lanczos_taps(n: int, scale: float, shift: float, a: int = 3) -> tuple[torch.Tensor, torch.Tensor]:
    """Where and how much to sample a line of ``n`` pixels at ``scale * j + shift`` (pixel centres) by Lanczos-``a``.

    Edges repeated; each point's weights sum to 1. Lanczos, not bicubic: a
    copy is resampled frame after frame, and bicubic's blur piles up (on the
    moving camera the style fraction moved +31% against +3%, ``bench_glued``).

    Shape:
        -> index ``(2a, n)`` long and weight ``(2a, n)`` float64: ``out[j] = sum_k weight[k, j] * x[index[k, j]]``.
    """
    q = scale * torch.arange(n, dtype=torch.float64) + shift
    x0 = q.floor()
    k = torch.arange(-a + 1, a + 1, dtype=torch.float64)[:, None]
    weight = _lanczos(q - (x0 + k), a)
    return (x0 + k).clamp(0, n - 1).long(), weight / weight.sum(0, keepdim=True)


def _taps_matrix(n: int, scale: float, shift: float, device: torch.device) -> torch.Tensor:
    """:func:`lanczos_taps` as an ``(n, n)`` float32 matrix: one product resamples a whole axis.

    Six nonzeros a row, but a dense product is still the cheapest on a CPU
    (6 ms for both axes of a 384x288 frame on one thread, against 18 ms for
    six gathers per axis).
    """
    index, weight = lanczos_taps(n, scale, shift)
    return torch.zeros(n, n, dtype=torch.float64).scatter_add_(1, index.T, weight.T).to(device, torch.float32)


def camera_moves(model: torch.Tensor, size: tuple[int, int]) -> float:
    """The farthest a camera model (:func:`fit_camera`) moves a pixel of a ``size`` ``(H, W)`` picture, in pixels."""
    (h, w), (sx, tx, sy, ty) = size, model.tolist()
    return max(abs(tx), abs((sx - 1) * (w - 1) + tx), abs(ty), abs((sy - 1) * (h - 1) + ty))


# A camera model that moves no pixel by more than this is a camera that stands still (a fixed camera's fit
# wobbles by a few hundredths of a pixel).
STILL_CAMERA = 0.05


def camera_carry(past: torch.Tensor, model: torch.Tensor, still: float = STILL_CAMERA,
                 edge: float = 0.0) -> tuple[torch.Tensor, torch.Tensor]:
    """``past`` resampled by a camera model (pixels of ``past``), and where the model's positions fall inside
    it, at least ``edge`` pixels from its sides.

    A model that moves no pixel by more than ``still`` (a fixed camera's fit
    wobbles by a few hundredths of a pixel) is taken as none: the copy is
    then exact, with no resampling to pile up, and every pixel is inside
    (what the decoder drew at a side stays at that side).

    Shape:
        past ``(1, C, H, W)``; model ``(4,)`` -> ``(1, C, H, W)`` and ``(1, 1, H, W)``.
    """
    h, w = past.shape[-2:]
    sx, tx, sy, ty = model.tolist()
    if camera_moves(model, (h, w)) < still:
        return past, torch.ones_like(past[:, :1])
    # A zoom and a shift per axis are separable: two small products, where a general warp gathers 36 taps a pixel.
    out = (_taps_matrix(h, sy, ty, past.device) @ past.float() @ _taps_matrix(w, sx, tx, past.device).T)
    out = out.clamp_(0, 1).to(past.dtype)
    px = sx * torch.arange(w, dtype=torch.float64) + tx
    py = sy * torch.arange(h, dtype=torch.float64) + ty
    inside = ((py >= edge) & (py <= h - 1 - edge))[:, None] & ((px >= edge) & (px <= w - 1 - edge))[None, :]
    return out, inside.to(past.device, past.dtype)[None, None]


# --------------------------------------------------------------------------- #
# The state a render loop carries from batch to batch
# --------------------------------------------------------------------------- #


@dataclass(frozen=True)
class Motion:
    """What :meth:`Temporal.motion` found for a batch, consumed by :meth:`Temporal.features` and :meth:`Temporal.output`.

    ``fresh[i]`` says frame i starts a shot (the memory is cleared before it);
    ``flow`` is each frame's backward flow to its predecessor and ``weight``
    how much of the warped predecessor to keep, both at the flow size (zero
    for a fresh frame); ``consistent`` the fraction of its pixels whose flow
    passed the forward-backward check.

    ``shift`` (with ``phase`` on) is where each frame is sampled, in pixels of
    the working size: the network sees ``frame(p + shift)``. It follows the
    camera's global translation modulo the network's grid (:data:`GRID`), so
    that from one frame to the next the scene moves by whole cells of the
    grid, which the encoder and decoder reproduce exactly. ``flow`` and
    ``weight`` are then those of the shifted frames.

    ``camera`` and ``carry`` (where :attr:`TemporalSettings.carry`): each
    frame's camera model from its predecessor (:func:`fit_camera`), in
    pixels of the working size and in the frames' grid-phase coordinates
    (NaN where there is none: a fresh frame, too little consistent flow),
    and where it explains the source (:func:`camera_holds`).

    ``output_weight`` is the output blend's own weight: gated by
    :attr:`TemporalSettings.output_tolerance`, not released where things
    move apart from the camera (``release``, the features' alone), and let
    go where the camera zooms (``zoom_release``, the output's alone). None
    where it would be ``weight`` itself (equal tolerances, neither of those).

    ``still`` (where :attr:`TemporalSettings.still`) is each pixel's
    :func:`stillness` (of the shifted frames too), which moves the blends'
    weights from ``features`` and ``output`` towards ``still_features`` and
    ``still_output``.

    Shape:
        flow ``(B, 2, h, w)``, weight, output_weight, still and carry ``(B, 1, h, w)``, shift ``(B, 2)``,
        camera ``(B, 4)``.
    """

    fresh: tuple[bool, ...]
    flow: torch.Tensor | None = None
    weight: torch.Tensor | None = None
    consistent: tuple[float, ...] = ()
    shift: torch.Tensor | None = None
    still: torch.Tensor | None = None
    camera: torch.Tensor | None = None
    carry: torch.Tensor | None = None
    output_weight: torch.Tensor | None = None


def _maps_at(motion: Motion, size: tuple[int, int], pool: bool = False, output: bool = False
             ) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor | None]:
    """A batch's flow, blend weights and stillness brought from the flow size to ``size``, once per batch.

    Feature maps (``pool``) take each cell's mean; pictures are resampled bilinearly. With ``output``, the
    weights are the output blend's (:attr:`Motion.output_weight`).

    Shape:
        -> ``(B, 2, *size)``, ``(B, 1, *size)`` and ``(B, 1, *size)`` or None.
    """
    h0, w0 = motion.flow.shape[-2:]
    weight = motion.output_weight if output and motion.output_weight is not None else motion.weight
    if not pool and size[0] >= h0 and size[1] >= w0:
        # Upsampled, the flow is resampled as the maps are (resize_flow): one call for all their channels.
        maps = [motion.flow, weight] + ([] if motion.still is None else [motion.still])
        up = F.interpolate(torch.cat(maps, 1), size=size, mode="bilinear", align_corners=False)
        return _rescaled(up[:, :2], (h0, w0)), up[:, 2:3], None if motion.still is None else up[:, 3:]

    def scale(m: torch.Tensor) -> torch.Tensor:
        return F.adaptive_avg_pool2d(m, size) if pool else F.interpolate(m, size=size, mode="bilinear",
                                                                         align_corners=False)

    return resize_flow(motion.flow, size), scale(weight), None if motion.still is None else scale(motion.still)


def _cap(weight: float, still_weight: float, still: torch.Tensor | None, i: int) -> torch.Tensor | float:
    """Frame ``i``'s most of the past to keep: ``weight``, moving to ``still_weight`` with its stillness.

    A float where the stillness plays no part; else ``(1, 1, h, w)`` like ``still``.
    """
    if still_weight == 0 or still is None:
        return weight
    return weight + (still_weight - weight) * still[i : i + 1]


@dataclass
class Temporal:
    """The temporal stage's memory: call it on consecutive frames, in order; :meth:`reset` at a cut.

    Per batch: :meth:`motion` (flow and weights from the source frames), then
    :meth:`features` on the encoder's features (steady statistics, AdaIN,
    feature blending; gives the decoder's input), then :meth:`output` on the
    decoded frames. Each step resets its own memory at the frames
    ``Motion.fresh`` marks, so a cut inside a batch is handled in place.
    """

    settings: TemporalSettings = field(default_factory=TemporalSettings)
    _grey: torch.Tensor | None = field(default=None, repr=False)  # previous source, flow size, (1, 1, h, w)
    _stats: tuple[torch.Tensor, torch.Tensor] | None = field(default=None, repr=False)
    _feat: torch.Tensor | None = field(default=None, repr=False)  # previous decoder input (1, C, h, w)
    _out: torch.Tensor | None = field(default=None, repr=False)  # previous output (1, 3, H, W)
    _region: torch.Tensor | None = field(default=None, repr=False)  # previous frame's masks, flow size (1, K, h, w)
    _shift: torch.Tensor | None = field(default=None, repr=False)  # previous frame's phase shift, working px (2,)
    _src: torch.Tensor | None = field(default=None, repr=False)  # previous encoder input (1, 3, H, W)

    def __post_init__(self) -> None:
        self.settings.check()

    def reset(self) -> None:
        """Forget everything: the next frame is stylized as if it were the first."""
        self._grey = self._stats = self._feat = self._out = self._region = self._shift = self._src = None

    def hooks(self, new_shot: Sequence[bool] | None = None,
              masks: Sequence[torch.Tensor | None] | None = None,
              regrid: Sequence[bool] | None = None) -> TemporalHooks:
        """This stage for one batch of :meth:`vidstyle.stylize.Stylizer.stylize` (``hooks=``).

        ``new_shot``, ``masks`` and ``regrid`` as for :meth:`motion`.
        """
        return TemporalHooks(self, None if new_shot is None else tuple(bool(f) for f in new_shot),
                             None if masks is None else tuple(masks),
                             None if regrid is None else tuple(bool(f) for f in regrid))

    def regrid(self, indices: Sequence[int]) -> list[bool]:
        """Per frame index in the video: does the grid phase lock (and the carry's memory) start again there (``phase_period``)."""
        s = self.settings
        return [(s.phase or s.carry > 0) and i % s.phase_period == 0 for i in indices]

    def motion(self, frames: torch.Tensor, new_shot: Sequence[bool] | None = None,
               masks: Sequence[torch.Tensor | None] | None = None, regrid: Sequence[bool] | None = None) -> Motion:
        """Flow from each frame to its predecessor and the blend weights, for a batch.

        Args:
            frames: the source frames (any size; the model's working size is
                cheapest), in order, following the last batch's.
            new_shot: per frame, True where a shot starts (a cut, a timeline
                cut, the first frame of a farm chunk's warm-up); default none.
            masks: per frame, its look's region masks ``(1, K, H', W')`` or
                None. The source's flow knows nothing of a mask video: where a
                frame's masks differ from its predecessor's, the past is not
                kept (else a region's style would trail behind its mask).
            regrid: per frame, True where the grid phase lock starts again
                (:meth:`regrid` of the frames' indices in the video); default none.

        Shape:
            frames ``(B, 3, H, W)`` -> :class:`Motion` with maps at :func:`flow_shape`.
        """
        b = frames.shape[0]
        starts = [bool(s) for s in (new_shot if new_shot is not None else [False] * b)]
        if len(starts) != b:
            raise ValueError(f"{len(starts)} new_shot flags for {b} frames")
        s = self.settings
        if not s.needs_flow:
            fresh = tuple(starts[i] or (i == 0 and self._stats is None) for i in range(b))
            return Motion(fresh)
        h, w = flow_shape(frames.shape[-2], frames.shape[-1], s.flow_size)
        grey = luma(F.interpolate(frames.float(), size=(h, w), mode="bilinear", align_corners=False, antialias=True))
        if self._grey is not None and self._grey.shape[-2:] != grey.shape[-2:]:
            raise ValueError("frame size changed within a shot: reset() first")
        prev = torch.cat([self._grey if self._grey is not None else grey[:1], grey[:-1]])
        has_prev = [self._grey is not None] + [True] * (b - 1)
        both = flow_both_ways(grey, prev, s.flow_method)
        raw = both  # the local flow, before the snap: the camera model needs its zoom
        release = s.release > 0 and s.features > 0
        # The camera's motion, once for the snap and the release (snapping leaves each flow's median as it was).
        median = camera_motion(both) if s.snap > 0 or release else None
        if s.snap > 0:
            both, moved = _snap(both, torch.cat([grey, prev]), torch.cat([prev, grey]), s.snap, camera=median)
            prev_w = moved[:b]  # the previous source warped by the snapped backward flow
        else:
            prev_w, _ = _warp(prev, both[:b])
        back, fwd = both[:b], both[b:]
        ok = consistent(back, fwd)
        # The features' weight, and the output's where its gate differs: one channel each, kept side by side.
        gates = (s.tolerance,) if s.output_tolerance == s.tolerance else (s.tolerance, s.output_tolerance)
        weight = torch.cat([blend_weight(grey, prev_w, ok, t) for t in gates], 1)
        if release:
            # The features' own channel lets go of what moves in the shot; the output keeps the gate's weight.
            weight = torch.cat([weight[:, :1] * released(back, s.release, median[:b]), weight[:, -1:]], 1)
        zoom = None
        if s.zoom_release > 0 and (s.output > 0 or s.carry > 0):
            # Fitted to the snapped flow: where the camera's translation explains the picture as well, there is no
            # zoom to fear.
            zoom = _zoom_gate(back, ok, s.zoom_release)
        if zoom is not None and s.output > 0:
            # The output's channel lets go of what the camera's zoom moves apart.
            weight = torch.cat([weight[:, :1], weight[:, -1:] * zoom], 1)
        region = None
        if masks is not None or self._region is not None:
            region = self._region_kept(masks or [None] * b, (h, w), weight[:, :1])
            weight = weight * region
        frac = ok.float().mean((1, 2, 3)).tolist()
        again = regrid if regrid is not None else [False] * b
        # A copy never forgets: with the carry on, the whole memory starts again with the grid phase.
        fresh = tuple(starts[i] or not has_prev[i] or frac[i] < s.min_consistent or (s.carry > 0 and bool(again[i]))
                      for i in range(b))
        keep = torch.tensor([0.0 if f else 1.0 for f in fresh], device=weight.device).reshape(b, 1, 1, 1)
        self._grey = grey[-1:].clone()
        weight = weight * keep
        camera = carry = None
        if s.carry > 0:
            camera, carry = self._cameras(raw, grey, prev, fresh, (frames.shape[-2], frames.shape[-1]))
            carry = carry * keep if region is None else carry * keep * region
            if zoom is not None:
                # A copy along a zoom magnifies the old strokes frame after frame, and a copy mixed with the blend
                # (a weight between 0 and 1) averages two stroke patterns: where the zoom moves any pixel by half
                # the release or more, the frame copies nothing.
                zooms = (zoom.flatten(1).amin(1) <= 0.5).reshape(b, 1, 1, 1)
                carry = carry.masked_fill(zooms, 0.0)
        # A fresh frame has no past to keep (and, with no predecessor, compares with itself: "still").
        still = stillness(back, grey, prev_w, s.still_motion, s.still_tolerance) * keep if s.still else None
        shift = None
        if s.phase:
            # A frame that keeps nothing of the past (a cut, every mask changed) has nothing to line up with:
            # it starts at phase 0, as it would on its own.
            empty = (weight.flatten(1).amax(1) < 1e-6).tolist()
            restart = [f or bool(r) or e for f, r, e in zip(fresh, again, empty)]
            # The other maps ride along with the weight: the same warp to the shifted frames.
            maps = torch.cat([m for m in (weight, still, carry) if m is not None], 1)
            channels = weight.shape[1]
            before = self._shift if self._shift is not None else torch.zeros(2, device=back.device)
            back, maps, shift = self._lock_phase(back, maps, ok, restart, (frames.shape[-2], frames.shape[-1]))
            weight, rest = maps[:, :channels], maps[:, channels:]
            if still is not None:
                still, rest = rest[:, :1], rest[:, 1:]
            if carry is not None:
                carry = rest
                # Frame t is sampled at p + s_t, its predecessor at p + s_{t-1}: the model, in those coordinates.
                prev_shift = torch.cat([before[None], shift[:-1]]).double().cpu()
                cur = shift.double().cpu()
                camera = camera.clone()
                camera[:, 1] += camera[:, 0] * cur[:, 0] - prev_shift[:, 0]
                camera[:, 3] += camera[:, 2] * cur[:, 1] - prev_shift[:, 1]
        return Motion(fresh, back, weight[:, :1], tuple(frac), shift, still, camera, carry,
                      weight[:, 1:] if weight.shape[1] > 1 else None)

    def _cameras(self, both: torch.Tensor, grey: torch.Tensor, prev: torch.Tensor, fresh: Sequence[bool],
                 size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor]:
        """Each frame's camera model (:func:`fit_camera`, on the flow the forward-backward check trusts) and map.

        Shape:
            both ``(2B, 2, h, w)`` (backward first), grey and prev ``(B, 1, h, w)`` -> ``(B, 4)``, ``(B, 1, h, w)``.
        """
        b = grey.shape[0]
        ok = consistent(both[:b], both[b:])
        models, holds = [], []
        for i in range(b):
            if fresh[i] or int(ok[i].sum()) < 16:
                models.append(torch.full((4,), math.nan, dtype=torch.float64))
                holds.append(torch.zeros_like(grey[i : i + 1]))
                continue
            model = fit_camera(both[i : i + 1], ok[i, 0], size)
            models.append(model)
            holds.append(camera_holds(grey[i : i + 1], prev[i : i + 1], both[i : i + 1], model, size,
                                      self.settings.carry, self.settings.carry_agree))
        return torch.stack(models), torch.cat(holds)

    def _lock_phase(self, back: torch.Tensor, weight: torch.Tensor, ok: torch.Tensor, restart: Sequence[bool],
                    size: tuple[int, int]) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """Each frame's grid phase shift, and the flow and weights of the frames so shifted.

        The camera's translation is the median of the trusted flow; the shift
        takes it up modulo :data:`GRID` (0 where ``restart`` says). Frame t is
        sampled at ``p + s_t``, so pixel ``p`` of shifted frame t came from
        ``p + s_t + back(p + s_t) - s_{t-1}`` of shifted frame t-1.
        """
        b, _, h, w = back.shape
        to_work = torch.tensor([size[1] / w, size[0] / h], device=back.device)
        flows, weights, shifts = [], [], []
        for i in range(b):
            if self._shift is None:
                prev = cur = torch.zeros(2, device=back.device)
            elif restart[i]:
                prev, cur = self._shift, torch.zeros(2, device=back.device)
            else:
                v = back[i].flatten(1)[:, ok[i].flatten()]
                m = v.median(1).values if v.shape[1] else torch.zeros(2, device=back.device)
                prev = self._shift
                m = m * to_work
                # A fixed camera's median wobbles by a few thousandths of a pixel: it does not move the
                # grid (every resample blurs a little, and a chunk's warm-up keeps a single render's phase 0).
                m = torch.where(m.abs() < STILL, torch.zeros_like(m), m)
                cur = torch.remainder(prev - m + GRID / 2, GRID) - GRID / 2
            s_flow = (cur / to_work).reshape(1, 2, 1, 1)
            moved = (cur - prev) / to_work
            if bool((cur == 0).all()):
                f, wt = back[i : i + 1], weight[i : i + 1]
            else:
                # One warp for the flow and the maps: the same positions, channel by channel.
                both, _ = _warp(torch.cat([back[i : i + 1], weight[i : i + 1]], 1), s_flow.expand(1, 2, h, w))
                f, wt = both[:, :2], both[:, 2:]
            flows.append(f + moved.reshape(1, 2, 1, 1))
            weights.append(wt)
            shifts.append(cur)
            self._shift = cur
        return torch.cat(flows), torch.cat(weights), torch.stack(shifts)

    def source(self, frames: torch.Tensor, motion: Motion) -> torch.Tensor:
        """What the encoder sees: the frames at their grid phase, steadied by the warped past (``source``).

        A no-op when neither ``phase`` nor ``source`` is on.

        Shape:
            ``(B, 3, H, W)`` at the working size -> ``(B, 3, H, W)``.
        """
        s = self.settings
        self._check(motion, frames)
        if (not s.phase and s.source == 0) or motion.flow is None:
            return frames
        if s.source > 0:
            flows, weights, _ = _maps_at(motion, tuple(frames.shape[-2:]))
        out = []
        for i in range(frames.shape[0]):
            x = frames[i : i + 1].float()
            if motion.shift is not None:
                x = _shifted(x, motion.shift[i]).clamp(0, 1)
            if motion.fresh[i]:
                self._src = None
            if s.source > 0:
                if self._src is not None:
                    past, _ = _warp(self._src, flows[i : i + 1], s.resample)
                    x = torch.lerp(x, past.clamp(0, 1), s.source * weights[i : i + 1])
                self._src = x
            out.append(x)
        return torch.cat(out).to(frames.dtype)

    def _region_kept(self, masks: Sequence[torch.Tensor | None], size: tuple[int, int], like: torch.Tensor) -> torch.Tensor:
        """Per frame, 1 - how much its masks changed since the previous frame, ``(B, 1, h, w)`` at the flow size.

        A frame with masks after one without (or the other way round) keeps nothing.
        """
        if len(masks) != like.shape[0]:
            raise ValueError(f"{len(masks)} masks for {like.shape[0]} frames")
        kept = []
        for m in masks:
            region = None if m is None else F.interpolate(m.to(like), size=size, mode="bilinear", align_corners=False)
            if region is None and self._region is None:
                kept.append(torch.ones_like(like[:1]))
            elif region is None or self._region is None or region.shape != self._region.shape:
                kept.append(torch.zeros_like(like[:1]))
            else:
                kept.append((1 - (region - self._region).abs().amax(1, keepdim=True)).clamp(0, 1))
            self._region = region
        return torch.cat(kept)

    def content_stats(self, feats: torch.Tensor, motion: Motion) -> tuple[torch.Tensor, torch.Tensor]:
        """Steady statistics: each frame's channel mean and std, averaged with the shot's past.

        What AdaIN should normalise the content by, in place of each frame's
        own (:func:`adain_with_stats`); with ``stats`` 0 they are the frame's own.

        Shape:
            feats ``(B, C, h, w)`` -> two ``(B, C, 1, 1)``.
        """
        self._check(motion, feats)
        means, stds = [], []
        for i in range(feats.shape[0]):
            if motion.fresh[i]:
                self._stats = None
            self._stats = ema_stats(*channel_stats(feats[i : i + 1]), self._stats, self.settings.stats)
            means.append(self._stats[0])
            stds.append(self._stats[1])
        return torch.cat(means), torch.cat(stds)

    def blend_features(self, target: torch.Tensor, motion: Motion) -> torch.Tensor:
        """The decoder's input blended with the previous one, warped, where the flow is trusted.

        ``target`` is what the model would decode (AdaIN's output, with alpha,
        masks, whatever the look asks). With ``renormalise`` each channel is
        then given back the mean and std it had in ``target``.

        Shape:
            ``(B, C, h, w)`` -> ``(B, C, h, w)``.
        """
        s = self.settings
        self._check(motion, target)
        out = []
        blend = s.features > 0 and motion.flow is not None
        if blend:
            # What does not depend on the previous frame's result, for the whole batch at once.
            flows, weights, still = _maps_at(motion, tuple(target.shape[-2:]), pool=True)
            stats = channel_stats(target) if s.renormalise else None
        for i in range(target.shape[0]):
            t = target[i : i + 1].float()
            if motion.fresh[i]:
                self._feat = None
            if blend and self._feat is not None:
                past, _ = _warp(self._feat, flows[i : i + 1], s.feature_resample)
                wgt = _cap(s.features, s.still_features, still, i) * weights[i : i + 1]
                blended = torch.lerp(t, past, wgt)
                t = _renormalise(blended, stats[0][i : i + 1], stats[1][i : i + 1]) if stats is not None else blended
            self._feat = t
            out.append(t)
        return torch.cat(out).to(target.dtype)

    def features(
        self, feats: torch.Tensor, motion: Motion, s_mean: torch.Tensor, s_std: torch.Tensor, alpha: float = 1.0
    ) -> torch.Tensor:
        """The decoder's input for one style: AdaIN with :meth:`content_stats`, alpha, :meth:`blend_features`.

        Args:
            feats: the encoder's relu4_1 features of the batch.
            motion: this batch's :meth:`motion`.
            s_mean, s_std: the style's statistics ``(1, C, 1, 1)``.
            alpha: the content/style trade-off, as :func:`vidstyle.stats.with_alpha`.

        Shape:
            feats ``(B, C, h, w)`` -> ``(B, C, h, w)``.
        """
        f = feats.float()
        t = adain_with_stats(f, *self.content_stats(f, motion), s_mean, s_std)
        if alpha != 1.0:
            t = alpha * t + (1.0 - alpha) * f
        return self.blend_features(t, motion).to(feats.dtype)

    def _check(self, motion: Motion, x: torch.Tensor) -> None:
        if len(motion.fresh) != x.shape[0]:
            raise ValueError(f"motion for {len(motion.fresh)} frames, a batch of {x.shape[0]}")

    def output(self, frames: torch.Tensor, motion: Motion) -> torch.Tensor:
        """The decoded frames blended with the warped previous output, then, with ``carry``, the previous
        output resampled by the camera model where that holds (a no-op when neither is on).

        Shape:
            ``(B, 3, H, W)`` -> ``(B, 3, H, W)``.
        """
        s = self.settings
        self._check(motion, frames)
        if (s.output == 0 and motion.carry is None) or motion.flow is None:
            return self._unshift(frames, motion)
        flows, weights, still = _maps_at(motion, tuple(frames.shape[-2:]), output=True)
        carry = near = None
        if motion.carry is not None:
            size = tuple(frames.shape[-2:])
            carry = F.interpolate(motion.carry, size=size, mode="bilinear", align_corners=False)
            still_camera = [not bool(c.isnan().any()) and camera_moves(c, size) < STILL_CAMERA
                            for c in motion.camera]
            if s.carry_near and any(still_camera):
                # Within carry_near // 2 px of what is not carried: a max over the window, one axis at a time.
                near = _window_max(_window_max(1 - carry, s.carry_near, -1), s.carry_near, -2)
        out = []
        for i in range(frames.shape[0]):
            o = frames[i : i + 1]
            if motion.fresh[i]:
                self._out = None
            if self._out is not None and s.output > 0:
                past, _ = _warp(self._out, flows[i : i + 1], s.resample)
                past = past.clamp(0, 1).to(o.dtype)
                wgt = (_cap(s.output, s.still_output, still, i) * weights[i : i + 1]).to(o.dtype)
                copying = s.still_copy > 0 and still is not None
                # The decoder's new strokes against the past's, judged before the blend: once, for both uses.
                d = _local_diff(o, past) if s.stroke_tolerance > 0 or copying else None
                if s.stroke_tolerance > 0:
                    # New strokes far from the past's do not line up with them: averaged, both wash out.
                    wgt = wgt * torch.exp(-(d / s.stroke_tolerance).square())
                if s.contrast > 0:
                    plain = still[i : i + 1].to(o.dtype) if s.still_plain and still is not None else None
                    o = contrast_blend(o, past, wgt, s.contrast, plain)
                else:
                    o = torch.lerp(o, past, wgt)
                if copying:
                    # Judged on the decoder's own frame, not the blend: is this a wobble of the old strokes?
                    copy = _copied(d, (still[i : i + 1] * weights[i : i + 1]).to(o.dtype), s.still_copy)
                    o = torch.lerp(o, past, copy)
            if carry is not None and self._out is not None and not bool(motion.camera[i].isnan().any()):
                carried, inside = camera_carry(self._out, motion.camera[i], edge=s.carry_edge)
                where = carry[i : i + 1] * inside
                if near is not None and still_camera[i]:
                    alike = torch.exp(-(_local_diff(frames[i : i + 1], carried) / s.carry_redraw).square())
                    where = where * torch.lerp(torch.ones_like(alike), alike, near[i : i + 1])
                o = torch.lerp(o, carried.to(o.dtype), where.to(o.dtype))
            self._out = o
            out.append(o)
        return self._unshift(torch.cat(out), motion)

    def _unshift(self, frames: torch.Tensor, motion: Motion) -> torch.Tensor:
        """Undo :meth:`source`'s grid phase shift: back to the source's own coordinates."""
        if motion.shift is None:
            return frames
        return torch.cat([_shifted(frames[i : i + 1], -motion.shift[i]).clamp(0, 1)
                          for i in range(frames.shape[0])])


@dataclass
class TemporalHooks:
    """One batch of the temporal stage, as the hooks of :meth:`vidstyle.stylize.Stylizer.stylize`.

    ``begin`` computes the batch's :class:`Motion` from the source frames at
    the working size and gives the frames the encoder sees (:meth:`Temporal.source`:
    at their grid phase); ``content_stats`` gives the steady statistics (None with
    ``stats`` 0: AdaIN then takes each frame's own, exactly as without this
    stage); ``features`` blends the decoder's input, ``output`` the decoded
    frames and shifts them back. Made by :meth:`Temporal.hooks`; used once, in that order.
    """

    state: Temporal
    new_shot: tuple[bool, ...] | None = None
    masks: tuple[torch.Tensor | None, ...] | None = field(default=None, repr=False)
    regrid: tuple[bool, ...] | None = None
    motion: Motion | None = field(default=None, repr=False)

    def begin(self, small: torch.Tensor) -> torch.Tensor:
        self.motion = self.state.motion(small, self.new_shot, self.masks, self.regrid)
        return self.state.source(small, self.motion)

    def _motion(self) -> Motion:
        if self.motion is None:
            raise RuntimeError("TemporalHooks.begin must come first")
        return self.motion

    def content_stats(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor] | None:
        if self.state.settings.stats == 0:
            return None
        return self.state.content_stats(feats, self._motion())

    def features(self, target: torch.Tensor) -> torch.Tensor:
        if self.state.settings.features == 0:
            return target
        return self.state.blend_features(target, self._motion())

    def output(self, decoded: torch.Tensor) -> torch.Tensor:
        return self.state.output(decoded, self._motion())
