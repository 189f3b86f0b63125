"""A preview page: a handful of frames stylized as the render will, in one self-contained HTML file.

Before paying for a whole render, :func:`preview` renders only the frames that
show what the timeline does (:func:`choose_frames`): every keyframe, the
middle of every transition, both sides of every cut, and evenly spaced frames
to fill up to ``count``. Each goes through the render's own model stage
(:func:`vidstyle.render.stylize_batch`, with the render's style schedule), so
a previewed frame is the frame the render gives on the same device and
working size, but for the render's temporal stage (on by default, see
:class:`vidstyle.settings.SteadySettings`): it needs every frame before, so
previewed frames are stylized on their own, and the page says so. A render's
first frame after each cut, where the stage starts afresh, is exactly the
previewed one; within a shot the render's frames keep some of the frames
before them (the texture steadier, the style the same).

The page (:func:`write_page`) is one HTML file with the pictures inside (JPEG,
base64): for each frame a before/after slider (or side by side), its index
and, for a sequence, its file number, its SMPTE timecode, its shot, why it was
chosen, and the style in force; above them the shot strip, the styles over
time, and a tick per previewed frame. It needs no network and no server. On
loading it records on ``<body>`` how many pictures decoded
(``data-images-loaded="12/12"``) and any script error (``data-errors``), which
is what a headless browser test reads.

Cuts come from the shot list: the edit's (``edit``), else detection (one
decode-only pass at 128 px, cached as for a render; ``shots=False`` skips it).
"""
from __future__ import annotations

import base64
import bisect
import html
import io
import json
import math
import os
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from typing import Any

import numpy as np
import torch

from .errors import RenderError, SettingsError
from .outputs import atomic_path, check_destination, default_output
from .settings import ModelSettings, SequenceSettings, StyleSettings
from .stylize import Stylizer
from .timeline import ResolvedTimeline, StyleSchedule, ease, timeline_for
from .video import FrameBatch, VideoInfo, count_frames, format_smpte, frame_timestamps, frames_to_tensor, probe

__all__ = ["PreviewFrame", "PreviewResult", "choose_frames", "preview", "write_page", "default_preview_output"]

DEFAULT_COUNT = 12
# More than this many frames is no longer a preview: cut frames are thinned out (with a warning).
MAX_FRAMES = 36
# The pictures' longest side on the page: enough to judge strokes, small enough to load at once.
PAGE_SIDE = 960


@dataclass(frozen=True)
class PreviewFrame:
    """One frame of the preview: where it is, why it was chosen, and what it shows."""

    index: int  # from 0
    number: int  # the file number of a sequence, else the index
    time: float  # seconds from the first frame
    timecode: str  # SMPTE, at the video's nominal rate
    shot: int | None
    reasons: tuple[str, ...]
    style: str  # the style in force, in words


@dataclass(frozen=True)
class PreviewResult:
    output: Path
    frames: list[PreviewFrame]
    seconds: float
    warnings: list[str] = field(default_factory=list)


def default_preview_output(input: str | os.PathLike[str]) -> Path:
    """``<name>_preview.html`` beside the input (a sequence's name is its prefix).

    >>> default_preview_output("clips/walk.mp4"), default_preview_output("plates/sh010.####.exr")
    (PosixPath('clips/walk_preview.html'), PosixPath('plates/sh010_preview.html'))
    """
    from .video.sequence import sequence_name

    return default_output(Path(input).with_name(f"{sequence_name(input)}.x"), ".html", "_preview")


# --------------------------------------------------------------------------- #
# Which frames
# --------------------------------------------------------------------------- #


def choose_frames(
    resolved: ResolvedTimeline,
    frames: int,
    cuts: Sequence[int] = (),
    count: int = DEFAULT_COUNT,
    limit: int = MAX_FRAMES,
) -> tuple[list[tuple[int, tuple[str, ...]]], list[str]]:
    """The frames a preview shows, each with why, in order; and warnings.

    Every keyframe's frame, the middle of every transition, the last frame
    before and the first after every cut; then frames of an even grid of
    ``count``, each time the one farthest from those already chosen, until
    there are ``count``.
    Past ``limit`` the cut frames are thinned evenly.

    >>> from vidstyle.timeline import ResolvedTimeline
    >>> chosen, _ = choose_frames(ResolvedTimeline((), (), 25.0, 100), 100, cuts=[40], count=4)
    >>> [i for i, _ in chosen]
    [0, 39, 40, 99]
    """
    if frames < 1:
        raise SettingsError("a preview needs a video of at least one frame")
    if count < 1:
        raise SettingsError(f"a preview needs at least one frame, got {count}", settings="count")
    fps = resolved.fps or 1.0
    keyed: dict[int, list[str]] = {}

    def add(table: dict[int, list[str]], index: int, why: str) -> None:
        table.setdefault(min(max(index, 0), frames - 1), []).append(why)

    for n, k in enumerate(resolved.keyframes, start=1):
        add(keyed, k.frame, f"keyframe {n}")
        if k.change_end > k.change_start:
            middle = (k.change_start + k.change_end) / 2
            add(keyed, math.floor(middle * fps + 1e-3), f"middle of the change into keyframe {n}")
    at_cuts: dict[int, list[str]] = {}
    for n, c in enumerate(cuts, start=2):
        add(at_cuts, c - 1, f"last frame of shot {n - 1}")
        add(at_cuts, c, f"first frame of shot {n}")
    warnings = []
    room = limit - len(keyed)
    cut_frames = sorted(set(at_cuts) - set(keyed))
    if len(cut_frames) > max(room, 0):
        keep = max(room, 0)
        picked = {cut_frames[round(i * (len(cut_frames) - 1) / max(keep - 1, 1))] for i in range(keep)} if keep else set()
        warnings.append(f"{len(cut_frames) - len(picked)} of {len(cut_frames)} frames at cuts left out: "
                        f"a preview shows at most {limit} frames")
        cut_frames = sorted(picked)
    chosen: dict[int, list[str]] = {i: list(w) for i, w in keyed.items()}
    for i in cut_frames:
        chosen.setdefault(i, []).extend(at_cuts[i])
    # Top up from evenly spaced frames, always the one farthest from those chosen: the gaps fill evenly.
    grid = sorted({round(j * (frames - 1) / max(count - 1, 1)) for j in range(count)})
    while len(chosen) < count and grid:
        far = max(grid, key=lambda i: (min((abs(i - c) for c in chosen), default=frames), -i))
        grid.remove(far)
        if min((abs(far - c) for c in chosen), default=frames) < 1:
            continue
        chosen[far] = ["evenly spaced"]
    return sorted((i, tuple(w)) for i, w in chosen.items()), warnings


def _names(keyframe: Any) -> str:
    styles = [p.name for p in keyframe.styles]
    if len(styles) > 1 and not keyframe.masks:
        return " + ".join(f"{s} {w:.0%}" for s, w in zip(styles, keyframe.weights))
    return " | ".join(styles) + (" (masked)" if keyframe.masks else "")


def _describe(keyframe: Any) -> str:
    """A keyframe's look in words: its styles, alpha when not 1, and colour preservation."""
    alpha = f", alpha {keyframe.alpha:g}" if keyframe.alpha != 1 else ""
    return _names(keyframe) + alpha + (", colours kept" if keyframe.preserve_color else "")


def describe_look(resolved: ResolvedTimeline, time: float) -> str:
    """The style in force at ``time`` seconds, in words, as :meth:`StyleSchedule.look_at` places it.

    >>> from vidstyle.timeline import timeline_from_styles
    >>> tl = timeline_from_styles(["tests/data/chelsea.jpg", "tests/data/coffee.jpg@2s"], transition=1.0)
    >>> r = tl.resolve(Fraction(25), 100)
    >>> describe_look(r, 0.0), describe_look(r, 2.0), describe_look(r, 3.0)
    ('chelsea.jpg', 'chelsea.jpg → coffee.jpg (50% of the way)', 'coffee.jpg')
    """
    ks = resolved.keyframes
    starts = [k.change_start for k in ks]
    i = max(bisect.bisect_right(starts, time + 1e-6) - 1, 0)
    k = ks[i]
    if i == 0 or time + 1e-6 >= k.change_end or k.change_end <= k.change_start:
        return _describe(k.keyframe)
    u = ease(k.keyframe.curve, (time - k.change_start) / (k.change_end - k.change_start))
    if u <= 0:
        return _describe(ks[i - 1].keyframe)
    return f"{_describe(ks[i - 1].keyframe)} → {_describe(k.keyframe)} ({u:.0%} of the way)"


# --------------------------------------------------------------------------- #
# Reading a few frames
# --------------------------------------------------------------------------- #


def read_frames(info: VideoInfo, indices: Sequence[int], size: tuple[int, int] | None = None) -> FrameBatch:
    """Decode the frames ``indices`` (sorted, from 0) of a video or sequence, seeking to each.

    One demux pass lists the timestamps; then each frame is reached by seeking
    to the keyframe before it, so a handful of frames of a long video costs
    a handful of short decodes. ``size`` ``(width, height)`` scales (mask videos).

    Shape:
        ``rgb``: ``(len(indices), 3, H, W)`` float in [0, 1].
    """
    from .imageio import resize
    from .video.probe import open_input, video_stream

    fps = Fraction(info.fps)
    if info.sequence is not None:
        from .video.ranges import FrameRange
        from .video.sequence import iter_sequence_frames

        arrays = []
        for i in indices:
            rng = FrameRange(i, i + 1, i, i + 1, info.time_base, False)
            arrays.extend(arr for _, _, _, arr in iter_sequence_frames(info, rng))
        rgb = frames_to_tensor(arrays)
        pts = list(indices)
    else:
        all_pts = frame_timestamps(info)
        rgb_format = "rgb48le" if info.bit_depth > 8 else "rgb24"
        arrays, pts = [], []
        with open_input(info.path) as container:
            stream = video_stream(container, info.path)
            for i in indices:
                want = all_pts[i]
                container.seek(want, stream=stream, backward=True, any_frame=False)
                got = None
                for frame in container.decode(stream):
                    if frame.pts is not None and frame.pts >= want:
                        got = frame if frame.pts == want else None
                        break
                if got is None:
                    raise RenderError(f"{info.path}: frame {i} could not be reached by seeking; the file is damaged")
                arrays.append(got.to_ndarray(format=rgb_format, src_color_range=got.color_range or None))
                pts.append(want)
        rgb = frames_to_tensor(arrays)
    if size is not None and (rgb.shape[-1], rgb.shape[-2]) != tuple(size):
        rgb = resize(rgb, (size[1], size[0])).clamp(0, 1)
    origin = info.start_pts or 0  # frame times count from the first frame, as the reader's do
    times = [float((p - origin) * info.time_base) if info.sequence is None else float(i / fps)
             for i, p in zip(indices, pts)]
    return FrameBatch(list(indices), pts, times, rgb)


# --------------------------------------------------------------------------- #
# The page
# --------------------------------------------------------------------------- #


def _jpeg(rgb: torch.Tensor) -> str:
    """``(3, H, W)`` in [0, 1] -> a JPEG data URI, the longest side at most :data:`PAGE_SIDE`."""
    from PIL import Image

    from .imageio import resize

    h, w = rgb.shape[-2:]
    scale = min(1.0, PAGE_SIDE / max(h, w))
    if scale < 1:
        rgb = resize(rgb[None], (max(1, round(h * scale)), max(1, round(w * scale))))[0]
    arr = (rgb.clamp(0, 1) * 255).round().to(torch.uint8).permute(1, 2, 0).numpy()
    buf = io.BytesIO()
    Image.fromarray(np.ascontiguousarray(arr), "RGB").save(buf, format="JPEG", quality=90)
    return "data:image/jpeg;base64," + base64.b64encode(buf.getvalue()).decode("ascii")


def _json_island(value: Any) -> str:
    """JSON to put inside ``<script type="application/json">``: no ``<``, so nothing in it can end the script."""
    return json.dumps(value, ensure_ascii=False).replace("<", "\\u003c")


# Distinct hues for the styles of a timeline, in order of first use.
_HUES = (210, 30, 130, 280, 0, 175, 55, 320)


_CSS = """
:root { color-scheme: dark; }
body { font: 14px/1.4 system-ui, sans-serif; margin: 0; padding: 16px 24px; background: #16181c; color: #e8e8e8; }
h1 { font-size: 20px; margin: 0 0 4px; } .meta { color: #9aa0a6; margin-bottom: 14px; }
.strip { position: relative; margin: 8px 0 22px; }
.row { display: flex; height: 26px; border-radius: 4px; overflow: hidden; }
.shot { border-right: 2px solid #16181c; background: #2d333b; color: #cfd3d8; font-size: 12px;
        display: flex; align-items: center; justify-content: center; overflow: hidden; white-space: nowrap; }
.styles { height: 14px; margin-top: 4px; border-radius: 3px; }
.ticks { position: relative; height: 14px; }
.tick { position: absolute; top: 0; width: 2px; height: 14px; background: #f6c343; }
.legend { font-size: 12px; color: #9aa0a6; margin-top: 4px; }
.legend span { display: inline-block; width: 10px; height: 10px; margin: 0 4px 0 12px; border-radius: 2px; }
.controls { margin: 6px 0 14px; } button { background: #2d333b; color: #e8e8e8; border: 1px solid #444;
        border-radius: 4px; padding: 4px 10px; cursor: pointer; }
.grid { display: grid; grid-template-columns: repeat(auto-fill, minmax(380px, 1fr)); gap: 18px; }
.card { background: #1f2328; border-radius: 6px; padding: 10px; }
.card h2 { font-size: 14px; margin: 0 0 4px; } .why { color: #f6c343; font-size: 12px; }
.look { color: #9ad0ff; font-size: 12px; margin-bottom: 6px; }
.compare { position: relative; line-height: 0; }
.compare img { width: 100%; height: auto; display: block; }
.compare .after { position: absolute; inset: 0; clip-path: inset(0 0 0 50%); }
.compare input { position: absolute; inset: 0; width: 100%; height: 100%; opacity: 0; cursor: ew-resize; margin: 0; }
.compare .bar { position: absolute; top: 0; bottom: 0; left: 50%; width: 2px; background: #fff8; pointer-events: none; }
.labels { display: flex; justify-content: space-between; font-size: 11px; color: #9aa0a6; margin-top: 3px; }
.side .compare { display: grid; grid-template-columns: 1fr 1fr; gap: 4px; }
.side .compare .after { position: static; clip-path: none; }
.side .compare input, .side .compare .bar { display: none; }
"""

_JS = """
(function () {
  var errors = [];
  window.addEventListener('error', function (e) { errors.push(String(e.message || e)); report(); });
  function report() {
    var imgs = Array.prototype.slice.call(document.images);
    var ok = imgs.filter(function (i) { return i.complete && i.naturalWidth > 0; }).length;
    document.body.setAttribute('data-images-loaded', ok + '/' + imgs.length);
    document.body.setAttribute('data-errors', errors.join(' | '));
  }
  document.querySelectorAll('.compare input').forEach(function (input) {
    var box = input.parentNode;
    function move() {
      box.querySelector('.after').style.clipPath = 'inset(0 0 0 ' + input.value + '%)';
      box.querySelector('.bar').style.left = input.value + '%';
    }
    input.addEventListener('input', move);
    move();
  });
  document.getElementById('layout').addEventListener('click', function () {
    document.body.classList.toggle('side');
  });
  window.addEventListener('load', function () {
    Promise.all(Array.prototype.map.call(document.images, function (i) {
      return i.decode ? i.decode().catch(function () {}) : null;
    })).then(report);
  });
  report();
})();
"""


def write_page(
    dest: Path,
    info: VideoInfo,
    total: int,
    resolved: ResolvedTimeline,
    cuts: Sequence[int],
    frames: Sequence[PreviewFrame],
    before: torch.Tensor,
    after: torch.Tensor,
    *,
    title: str,
    overwrite: bool = False,
    settings_text: str = "",
) -> Path:
    """Write the preview page (see the module docstring) atomically.

    Args:
        total: the video's frame count.

    Shape:
        ``before``, ``after``: ``(N, 3, H, W)`` in [0, 1], one per entry of ``frames``.
    """
    total = max(total, 1)
    esc = html.escape
    bounds = [0, *cuts, total]
    shots = "".join(
        f'<div class="shot" style="flex:{b - a}" title="shot {n}: frames {a}-{b - 1}">{n}</div>'
        for n, (a, b) in enumerate(zip(bounds[:-1], bounds[1:]), start=1))
    # The styles over time: each keyframe's colour from its change's end to the next change's start,
    # a gradient across each change.
    stops = []
    fps = resolved.fps
    looks = list(dict.fromkeys(_names(k.keyframe) for k in resolved.keyframes))
    hue = {name: _HUES[n % len(_HUES)] for n, name in enumerate(looks)}
    for n, k in enumerate(resolved.keyframes):
        h = hue[_names(k.keyframe)]
        start = 0.0 if n == 0 else k.change_end * fps / total * 100
        nxt = resolved.keyframes[n + 1].change_start * fps / total * 100 if n + 1 < len(resolved.keyframes) else 100
        stops.append(f"hsl({h} 55% 45%) {min(max(start, 0), 100):.3f}%")
        stops.append(f"hsl({h} 55% 45%) {min(max(nxt, 0), 100):.3f}%")
    band = f"linear-gradient(to right, {', '.join(stops)})" if stops else "#2d333b"
    legend = "".join(f'<span style="background:hsl({hue[name]} 55% 45%)"></span>{esc(name)}' for name in looks)
    ticks = "".join(f'<a class="tick" href="#f{f.index}" title="frame {f.number}" '
                    f'style="left:{f.index / max(total - 1, 1) * 100:.3f}%"></a>' for f in frames)
    cards = []
    for f, b, a in zip(frames, before, after):
        number = f"frame {f.number}" + (f" (index {f.index})" if f.number != f.index else "")
        shot = "" if f.shot is None else f" · shot {f.shot}"
        cards.append(
            f'<section class="card" id="f{f.index}"><h2>{esc(number)} · {esc(f.timecode)}{shot}</h2>'
            f'<div class="why">{esc(", ".join(f.reasons))}</div><div class="look">style: {esc(f.style)}</div>'
            f'<div class="compare"><img class="before" alt="input frame {f.number}" src="{_jpeg(b)}">'
            f'<img class="after" alt="stylized frame {f.number}" src="{_jpeg(a)}">'
            f'<div class="bar"></div><input type="range" min="0" max="100" value="50" '
            f'aria-label="before / after, frame {f.number}"></div>'
            f'<div class="labels"><span>input</span><span>stylized</span></div></section>'
        )
    meta = (f"{info.width}x{info.height}, {total} frames at {float(info.fps):.3f} fps, "
            f"{len(bounds) - 1} shot{'s' if len(bounds) > 2 else ''}, {len(frames)} frames previewed"
            + (f" · {settings_text}" if settings_text else ""))
    page = (
        "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
        "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
        f"<title>{esc(title)}</title><style>{_CSS}</style></head><body>"
        f"<h1>{esc(title)}</h1><div class=\"meta\">{esc(meta)}</div>"
        f"<div class=\"strip\"><div class=\"row\">{shots}</div><div class=\"styles\" style=\"background:{band}\"></div>"
        f"<div class=\"ticks\">{ticks}</div><div class=\"legend\">{legend}</div></div>"
        "<div class=\"controls\"><button id=\"layout\" type=\"button\">slider / side by side</button></div>"
        f"<main class=\"grid\">{''.join(cards)}</main>"
        f"<script type=\"application/json\" id=\"vidstyle-preview\">"
        f"{_json_island([f.__dict__ for f in frames])}</script>"
        f"<script>{_JS}</script></body></html>\n"
    )
    with atomic_path(dest, overwrite=overwrite, inputs=(info.path,)) as tmp:
        tmp.write_text(page, encoding="utf-8")
    return dest


# --------------------------------------------------------------------------- #
# The whole thing
# --------------------------------------------------------------------------- #


def preview(
    input: str | os.PathLike[str],
    output: str | os.PathLike[str] | None = None,
    style: StyleSettings | None = None,
    *,
    model: ModelSettings = ModelSettings(),
    sequence: SequenceSettings = SequenceSettings(),
    count: int = DEFAULT_COUNT,
    shots: Any = None,
    detect_shots: bool = True,
    shots_cache: str | os.PathLike[str] | None = None,
    edit: str | os.PathLike[str] | None = None,
    overwrite: bool = False,
    stylizer: Stylizer | None = None,
) -> PreviewResult:
    """Stylize a handful of frames of ``input`` and write the preview page (default ``<name>_preview.html``).

    Args are those of :func:`vidstyle.stylize_video` where they share a name;
    ``count`` is how many frames at least (keyframes, transitions and cuts may
    add more, up to :data:`MAX_FRAMES`); ``detect_shots=False`` skips the
    shot pass when no shot list or edit is given (no cut frames, one shot).

    Raises:
        InputError, SettingsError, OutputError, WeightsError, RenderError, OutOfMemoryError.
    """
    from .masks import MaskLoader
    from .render import VIDEO_COLOR_METHOD, _from_edit, _input_warnings, default_batch, stylize_batch

    t0 = time.perf_counter()
    src = Path(input)
    info = probe(src, sequence)
    dest = Path(output) if output is not None else default_preview_output(src)
    if dest.suffix.lower() not in (".html", ".htm"):
        raise SettingsError(f"the preview is a web page: name it .html, not {dest.name}", settings="output")
    check_destination(dest, overwrite=overwrite, inputs=(src,))
    warnings = _input_warnings(info, sequence)
    if edit is not None:
        shots, edit_warnings, style = _from_edit(edit, info, style)
        warnings += edit_warnings
    if style is None:
        style = StyleSettings()  # raises: what to render is the one thing without a default
    timeline = timeline_for(style, info.fps)
    frames_total = count_frames(info) if not info.frame_count_exact else info.frame_count
    if shots is None and (detect_shots or timeline.uses_shots):
        from .shots import shots_for

        shots = shots_for(src, device=model.device, cache_dir=shots_cache, sequence=sequence)
    resolved = timeline.resolve(info.fps, frames_total, shots)
    warnings += resolved.warnings
    cuts = list(shots.cuts) if shots is not None else []
    chosen, more = choose_frames(resolved, frames_total, cuts, count)
    warnings += more
    masks = MaskLoader((info.height, info.width), info)
    mask_sets = {k.keyframe.masks: masks.load(k.keyframe.masks, k.keyframe.where)
                 for k in resolved.keyframes if k.keyframe.masks}
    warnings += masks.warnings
    stylizer = stylizer or Stylizer.from_settings(model)
    reference = read_frames(info, [0]).rgb if style.color_mode == "style" else None
    schedule = StyleSchedule.build(resolved, lambda path: stylizer.load_style(path, reference), mask_sets,
                                   style.color_method or VIDEO_COLOR_METHOD)
    indices = [i for i, _ in chosen]
    batch_size = model.batch or default_batch(stylizer.device.type, stylizer.size)
    befores, afters = [], []
    for n in range(0, len(indices), batch_size):
        part = indices[n: n + batch_size]
        batch = read_frames(info, part)
        for name, video in masks.videos.items():
            batch.masks[name] = read_frames(video, part, (info.width, info.height)).rgb.mean(1, keepdim=True)
        befores.append(batch.rgb)
        afters.append(stylize_batch(stylizer, schedule, batch))
    seq = info.sequence
    out_frames = []
    for (i, why) in chosen:
        t = float(i / Fraction(info.fps))
        out_frames.append(PreviewFrame(
            index=i, number=seq.number(i) if seq is not None else i, time=round(t, 6),
            timecode=format_smpte(i, info.fps), shot=None if shots is None else shots.shot_of(i),
            reasons=why, style=describe_look(resolved, t),
        ))
    settings_text = (f"working size {stylizer.size} px on {stylizer.device.type}; each frame stylized on its own "
                     "(the render's temporal steadying is not shown)")
    write_page(dest, info, frames_total, resolved, cuts, out_frames, torch.cat(befores), torch.cat(afters),
               title=f"vidstyle preview: {src.name}", overwrite=overwrite, settings_text=settings_text)
    return PreviewResult(dest, out_frames, time.perf_counter() - t0, warnings)
