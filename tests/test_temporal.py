"""The temporal stage on synthetic media: flow, warp, the consistency check, the blends, steady statistics, resets."""
from __future__ import annotations

from dataclasses import replace

import pytest
import torch
from torch.nn import functional as F

from vidstyle.stats import adain
from vidstyle.temporal import (
    camera_motion,
    Motion,
    Temporal,
    TemporalSettings,
    blend_weight,
    camera_carry,
    camera_flow,
    camera_holds,
    camera_moves,
    consistent,
    contrast_blend,
    dis_flow,
    ema_stats,
    fit_camera,
    flow_both_ways,
    lanczos_taps,
    lk_flow,
    luma,
    released,
    resize_flow,
    snap_to_global,
    stillness,
    warp,
)

H, W = 72, 96


def texture(seed: int, channels: int = 3, h: int = H + 40, w: int = W + 40) -> torch.Tensor:
    """A smooth random texture (blurred noise), ``(1, C, h, w)`` in [0, 1]; deterministic."""
    g = torch.Generator().manual_seed(seed)
    x = torch.rand(1, channels, h // 4, w // 4, generator=g)
    x = F.interpolate(x, size=(h, w), mode="bicubic", align_corners=False)
    return x.clamp(0, 1)


def shifted(tex: torch.Tensor, dx: float, dy: float) -> torch.Tensor:
    """``tex(p + d)``, cropped to H x W away from the border: the content moves by ``-d``."""
    b, _, h, w = tex.shape
    out, _ = warp(tex, torch.tensor([dx, dy]).reshape(1, 2, 1, 1).expand(b, 2, h, w))
    return out[..., 20 : 20 + H, 20 : 20 + W]


def pan(seed: int, n: int, step: tuple[float, float]) -> torch.Tensor:
    """``n`` frames of one texture panned by ``step`` pixels a frame: ``(n, 3, H, W)``."""
    tex = texture(seed)
    return torch.cat([shifted(tex, step[0] * i, step[1] * i) for i in range(n)])


def fixed_flow(b: int, dx: float, dy: float, h: int = H, w: int = W) -> torch.Tensor:
    return torch.tensor([dx, dy]).reshape(1, 2, 1, 1).expand(b, 2, h, w).clone()


# --------------------------------------------------------------------------- #
# Warp and flow
# --------------------------------------------------------------------------- #


def test_warp_integer_shift_is_exact_and_marks_the_frame_edge():
    x = torch.arange(float(H * W)).reshape(1, 1, H, W) / (H * W)
    out, inside = warp(x, fixed_flow(1, 3.0, -2.0))
    assert torch.allclose(out[0, 0, 2:, : W - 3], x[0, 0, : H - 2, 3:], atol=1e-5)
    assert inside[0, 0, 2:, : W - 3].all()
    assert not inside[0, 0, :, W - 3 :].any() and not inside[0, 0, :2].any()


def test_resize_flow_scales_vectors_with_the_picture():
    f = resize_flow(fixed_flow(1, 2.0, -1.0), (H // 2, W // 4))
    assert f.shape == (1, 2, H // 2, W // 4)
    assert torch.allclose(f[:, 0], torch.full_like(f[:, 0], 0.5)) and torch.allclose(f[:, 1], torch.full_like(f[:, 1], -0.5))


@pytest.mark.parametrize("d", [(1.3, -0.7), (4.25, 2.5)])
def test_lk_flow_recovers_a_subpixel_translation(d):
    tex = luma(texture(1))
    a, b = shifted(tex, *d), shifted(tex, 0.0, 0.0)  # a(p) = b(p + d)
    u = lk_flow(a, b)[..., 8:-8, 8:-8]
    err = (u - torch.tensor(d).reshape(1, 2, 1, 1)).norm(dim=1)
    assert float(err.median()) < 0.1
    assert float(err.mean()) < 0.3


@pytest.mark.parametrize("method", ["lk", "dis"])
def test_flow_both_ways_gives_the_backward_flow_then_the_forward_one(method):
    if method == "dis":
        pytest.importorskip("cv2")
    tex = luma(texture(4))
    cur, prev = torch.cat([shifted(tex, 1.5, -0.5)] * 2), torch.cat([shifted(tex, 0.0, 0.0)] * 2)
    both = flow_both_ways(cur, prev, method)[..., 8:-8, 8:-8]
    assert both.shape[0] == 4
    d = torch.tensor([1.5, -0.5]).reshape(1, 2, 1, 1)
    for u, want in ((both[:2], d), (both[2:], -d)):  # cur(p) = prev(p + d); prev(p) = cur(p - d)
        assert float((u - want).norm(dim=1).median()) < 0.25
    # The forward flow, with its single fine step, still confirms a true translation.
    assert bool(consistent(both[:2], both[2:]).float().mean() > 0.9)


def test_dis_flow_agrees_when_opencv_is_there():
    pytest.importorskip("cv2")
    tex = luma(texture(2))
    a, b = shifted(tex, 2.0, 1.0), shifted(tex, 0.0, 0.0)
    u = dis_flow(a, b)[..., 8:-8, 8:-8]
    assert float((u - torch.tensor([2.0, 1.0]).reshape(1, 2, 1, 1)).norm(dim=1).median()) < 0.25


def test_consistency_keeps_a_translation_and_rejects_unrelated_frames():
    tex = luma(texture(3))
    a, b = shifted(tex, 2.0, 0.0), shifted(tex, 0.0, 0.0)
    back, fwd = lk_flow(a, b), lk_flow(b, a)
    ok = consistent(back, fwd)
    assert float(ok[..., :, : W - 4].float().mean()) > 0.95  # all but the strip that leaves the frame
    assert not ok[..., :, W - 1].any()  # p + back(p) is outside frame t-1
    c = luma(texture(4))[..., :H, :W]  # another picture: a cut
    back, fwd = lk_flow(c, b), lk_flow(b, c)
    cut_ok = consistent(back, fwd)
    w = blend_weight(c, warp(b, back)[0], cut_ok, 0.05)
    assert float(w.mean()) < 0.15


def test_blend_weight_lets_changed_pixels_through():
    cur = torch.zeros(1, 1, 4, 4)
    prev = torch.zeros(1, 1, 4, 4)
    prev[..., 0, 0] = 0.5  # something moved away from here
    valid = torch.ones(1, 1, 4, 4, dtype=torch.bool)
    valid[..., 3, 3] = False
    w = blend_weight(cur, prev, valid, 0.05)
    assert float(w[..., 1, 1]) == 1.0 and float(w[..., 0, 0]) < 1e-6 and float(w[..., 3, 3]) == 0.0


# --------------------------------------------------------------------------- #
# Blends and statistics
# --------------------------------------------------------------------------- #


def test_contrast_blend_keeps_the_local_contrast_a_plain_blend_loses():
    g = torch.Generator().manual_seed(5)
    a = 0.5 + 0.1 * torch.randn(1, 3, 64, 64, generator=g)
    b = 0.5 + 0.1 * torch.randn(1, 3, 64, 64, generator=g)
    w = torch.full((1, 1, 64, 64), 0.5)
    plain = torch.lerp(a, b, w)
    kept = contrast_blend(a, b, w)
    inner = (..., slice(8, -8), slice(8, -8))
    assert float(plain[inner].std()) < 0.8 * float(a[inner].std())
    assert float(kept[inner].std()) == pytest.approx(float(a[inner].std()), rel=0.1)
    same = contrast_blend(a, a.clone(), w)  # where the two agree nothing is scaled
    assert torch.allclose(same, a.clamp(0, 1), atol=1e-5)


def test_ema_stats_follow_a_steady_mean_and_damp_noise():
    g = torch.Generator().manual_seed(6)
    prev = None
    out = []
    for _ in range(200):
        m = 1.0 + 0.1 * torch.randn(1, 4, 1, 1, generator=g)
        prev = ema_stats(m, m.abs(), prev, 0.9)
        out.append(prev[0])
    tail = torch.cat(out[50:])
    assert float(tail.mean()) == pytest.approx(1.0, abs=0.03)
    assert float(tail.std()) < 0.35 * 0.1
    first = torch.full((1, 4, 1, 1), 2.0)
    assert ema_stats(first, first, None, 0.9)[0] is first  # nothing before: the frame's own


def test_settings_are_checked():
    bad_settings = (
        dict(stats=1.0), dict(features=-0.1), dict(flow_method="raft"), dict(flow_size=4), dict(tolerance=0),
        dict(resample="nearest"), dict(contrast=4), dict(source=1.0), dict(snap=-0.1), dict(phase_period=0),
        dict(still_output=1.0), dict(still_features=-0.1), dict(still_motion=0), dict(still_tolerance=-1.0),
        dict(still_copy=-0.01), dict(carry=-0.01), dict(carry_near=4), dict(carry_redraw=0), dict(carry_edge=-1.0),
        dict(output_tolerance=0.0), dict(release=-0.5), dict(stroke_tolerance=-0.1), dict(zoom_release=-1.0),
    )
    for bad in bad_settings:
        with pytest.raises(ValueError):
            TemporalSettings(**bad).check()
    with pytest.raises(ValueError):
        Temporal(TemporalSettings(output=1.5))


# --------------------------------------------------------------------------- #
# The state object
# --------------------------------------------------------------------------- #


STYLE_MEAN, STYLE_STD = torch.full((1, 3, 1, 1), 0.5), torch.full((1, 3, 1, 1), 0.2)


def run(state: Temporal, frames: torch.Tensor, batch: int, new_shot: list[bool] | None = None,
        outputs: torch.Tensor | None = None) -> tuple[torch.Tensor, torch.Tensor, list[Motion]]:
    """Drive ``state`` as a render loop would; the "features" are the frames themselves, the "decoder" the identity
    (or ``outputs``, standing for a stylizer's frames)."""
    targets, outs, motions = [], [], []
    flags = new_shot or [False] * frames.shape[0]
    for i in range(0, frames.shape[0], batch):
        x = frames[i : i + batch]
        motion = state.motion(x, flags[i : i + batch])
        t = state.features(state.source(x, motion), motion, STYLE_MEAN, STYLE_STD)
        decoded = t if outputs is None else outputs[i : i + batch]
        outs.append(state.output(decoded, motion))
        targets.append(t)
        motions.append(motion)
    return torch.cat(targets), torch.cat(outs), motions


def test_the_default_steadies_with_flow_and_off_turns_everything_off():
    d = TemporalSettings()
    assert d.needs_flow and d.features > 0 and d.output > 0 and d.contrast > 0
    assert d.output < d.still_output < 0.9 and d.still  # still pixels keep a little more of the past
    assert 0 < d.still_copy and TemporalSettings.off().still_copy == 0  # and copy it where the strokes barely moved
    assert not TemporalSettings.off().needs_flow and TemporalSettings.off().stats == 0


def test_off_is_plain_adain_and_leaves_outputs_alone():
    frames = pan(7, 4, (1.0, 0.0))
    targets, outs, _ = run(Temporal(TemporalSettings.off()), frames, 2)
    assert torch.allclose(targets, adain(frames, STYLE_MEAN, STYLE_STD), atol=1e-6)
    assert torch.equal(outs, targets)


def test_the_same_frames_in_other_batches_give_the_same_result():
    frames = pan(8, 6, (1.5, 0.5))
    settings = TemporalSettings(stats=0.8, features=0.8, output=0.8, contrast=5)
    _, one, _ = run(Temporal(settings), frames, 1)
    _, three, _ = run(Temporal(settings), frames, 3)
    assert torch.allclose(one, three, atol=1e-5)


def test_static_noise_is_steadied():
    g = torch.Generator().manual_seed(9)
    base = texture(9)[..., :H, :W]
    frames = (base + 0.01 * torch.randn(8, 3, H, W, generator=g)).clamp(0, 1)  # a still shot with sensor noise
    stylized = (base + 0.08 * torch.randn(8, 3, H, W, generator=g)).clamp(0, 1)  # the texture crawls
    _, outs, motions = run(Temporal(TemporalSettings(features=0.0, output=0.8, contrast=0)), frames, 4, outputs=stylized)
    before = (stylized[1:] - stylized[:-1]).abs().mean()
    after = (outs[4:] - outs[3:-1]).abs().mean()
    assert float(after) < 0.5 * float(before)
    assert all(c > 0.95 for m in motions for c in m.consistent[1:])


def test_a_moving_object_leaves_no_trail():
    frames = torch.full((6, 3, H, W), 0.3)
    frames += 0.2 * texture(10)[..., :H, :W]  # a textured, still background
    for i in range(6):
        frames[i, :, 20:40, 10 + 8 * i : 30 + 8 * i] = 0.9  # a bright square moving 8 px a frame
    _, outs, _ = run(Temporal(TemporalSettings(features=0.0, output=0.9, contrast=0)), frames, 3)
    _, plain, _ = run(Temporal(TemporalSettings.off()), frames, 3)
    vacated = (slice(None), slice(20, 40), slice(10 + 8 * 4, 10 + 8 * 5))  # where the square was one frame ago
    assert float((plain[5][vacated] - plain[4][vacated]).abs().mean()) > 0.3  # it was there
    # And nothing of it stays. What is left sits in the 4 px next to the square, where the flow is smoothed
    # over its edge: 0.035 with the output gate at 0.15 (0.030 at 0.05, 0.036 with no gate, 0.064 without the
    # forward-backward check too, session 28).
    assert float((outs[5][vacated] - plain[5][vacated]).abs().mean()) < 0.04


@pytest.mark.parametrize("flagged", [True, False])
def test_a_cut_resets_everything(flagged):
    a = pan(11, 4, (1.0, 0.0))
    b = (1.0 - pan(12, 4, (0.0, 1.0)))  # another shot
    frames = torch.cat([a, b])
    flags = [False] * 8
    flags[4] = flagged
    settings = TemporalSettings(stats=0.9, features=0.9, output=0.9)
    targets, outs, motions = run(Temporal(settings), frames, 3, flags)
    assert [f for m in motions for f in m.fresh][4]  # flagged, or found by the consistency check
    # The first frame of the new shot is exactly what it would be on its own.
    fresh_t, fresh_o, _ = run(Temporal(settings), frames[4:5], 1)
    assert torch.allclose(targets[4], fresh_t[0], atol=1e-6) and torch.allclose(outs[4], fresh_o[0], atol=1e-6)


def test_reset_forgets():
    frames = pan(13, 3, (1.0, 0.0))
    state = Temporal(TemporalSettings(stats=0.9, features=0.9, output=0.9))
    run(state, frames, 3)
    state.reset()
    _, again, motions = run(state, frames[2:], 1)
    _, fresh, _ = run(Temporal(state.settings), frames[2:], 1)
    assert motions[0].fresh == (True,)
    assert torch.equal(again, fresh)


# --------------------------------------------------------------------------- #
# Grid phase, source averaging, the camera's own motion
# --------------------------------------------------------------------------- #


PHASE_ONLY = TemporalSettings(features=0.0, output=0.0, snap=0.0, phase=True, flow_size=W)


def test_phase_lock_turns_a_subpixel_pan_into_whole_cells_of_the_grid():
    step = (1.3, -0.6)  # frame t is frame t-1 moved by -step
    frames = pan(14, 8, step)
    state = Temporal(PHASE_ONLY)
    motions = [state.motion(frames[i : i + 2]) for i in range(0, 8, 2)]
    shifts = torch.cat([m.shift for m in motions])
    assert torch.equal(shifts[0], torch.zeros(2))  # a shot starts where it is
    # From one frame to the next the shifted scene moves by a multiple of 8 px.
    moved = torch.remainder(shifts[1:] - shifts[:-1] + torch.tensor(step) + 4, 8) - 4
    assert float(moved.abs().max()) < 0.1
    assert float(shifts.abs().max()) <= 4
    # The frames the encoder sees do stand still (whole cells apart) and the result goes back where it was.
    seen = torch.cat([state_seen for state_seen in _seen(frames, PHASE_ONLY)])
    k = torch.round((shifts[1:] - shifts[:-1] + torch.tensor(step)) / 8) * 8
    for t in range(1, 8):
        dx, dy = (int(v) for v in k[t - 1])  # seen[t](p) = seen[t - 1](p + (dx, dy))
        y0, y1, x0, x1 = 12 + max(-dy, 0), H - 12 - max(dy, 0), 12 + max(-dx, 0), W - 12 - max(dx, 0)
        a = seen[t, :, y0:y1, x0:x1]
        b = seen[t - 1, :, y0 + dy : y1 + dy, x0 + dx : x1 + dx]
        assert float((a - b).abs().mean()) < 0.01
    _, outs, _ = run(Temporal(PHASE_ONLY), frames, 2)
    _, plain, _ = run(Temporal(TemporalSettings.off()), frames, 2)
    assert float((outs - plain)[..., 8:-8, 8:-8].abs().mean()) < 0.01


def _seen(frames: torch.Tensor, settings: TemporalSettings) -> list[torch.Tensor]:
    state = Temporal(settings)
    out = []
    for i in range(0, frames.shape[0], 2):
        motion = state.motion(frames[i : i + 2])
        out.append(state.source(frames[i : i + 2], motion))
    return out


def test_the_output_blend_lets_the_past_go_more_loosely_than_the_features():
    frames = texture(16)[..., :H, :W].expand(2, 3, H, W).clone()
    frames[1, :, 20:50, 30:70] += 0.08  # the source changes a little there (light, or a flow a fraction off)
    frames = frames.clamp(0, 1)
    # The two tolerances alone, without the zoom's gate (a separate matter, with its own test).
    motion = Temporal(TemporalSettings(zoom_release=0.0)).motion(frames)
    inside = (slice(None), slice(25, 45), slice(35, 65))
    feat, out = float(motion.weight[1][inside].median()), float(motion.output_weight[1][inside].median())
    assert feat < 0.5 < 0.8 < out, (feat, out)
    assert bool((motion.output_weight >= motion.weight - 1e-6).all())
    # Where the source did not change, both keep it all (the first column is out of the frame: nothing).
    assert torch.allclose(motion.output_weight[1][:, :12], motion.weight[1][:, :12], atol=0.02)
    one_gate = TemporalSettings(output_tolerance=0.05, release=0.0, zoom_release=0.0)
    assert Temporal(one_gate).motion(frames).output_weight is None  # one map
    # A change at the gate (a light switched on there) mostly comes through: without the gate the flow,
    # consistent there, would keep all of the past (weight 1).
    lit = frames.clone()
    lit[1, :, 20:50, 30:70] = (frames[0, :, 20:50, 30:70] + 0.15).clamp(0, 1)
    assert float(Temporal(TemporalSettings()).motion(lit).output_weight[1][inside].median()) < 0.4
    # The output blend uses its own map: more of the past kept where the source changed a little.
    decoded = torch.stack([torch.full((3, H, W), 0.2), torch.full((3, H, W), 0.8)])

    def second(settings: TemporalSettings) -> float:
        state = Temporal(replace(settings, contrast=0))
        return float(state.output(decoded, state.motion(frames))[1][inside].mean())

    # Without the stroke tolerance: the decoder's two flat frames (0.2, 0.8) are 0.6 apart, which it would gate too.
    loose = second(TemporalSettings(stroke_tolerance=0.0))
    tight = second(TemporalSettings(output_tolerance=0.05, stroke_tolerance=0.0))
    assert loose < tight - 0.1, (loose, tight)


def test_released_lets_go_of_what_moves_apart_from_the_camera():
    back = fixed_flow(2, 1.5, -0.5, 8, 8)  # a camera panning
    back[1, :, 2:4, 2:4] += torch.tensor([0.3, 0.4]).reshape(2, 1, 1)  # something moving 0.5 px against it
    keep = released(back, 1.0)
    assert keep.shape == (2, 1, 8, 8)
    assert torch.equal(keep[0], torch.ones(1, 8, 8))  # the camera's own motion, however large, is kept
    assert torch.allclose(keep[1, 0, 2:4, 2:4], torch.full((2, 2), 0.5)) and float(keep[1, 0, 5:, 5:].min()) == 1.0
    assert float(released(back, 0.25)[1, 0, 2:4, 2:4].max()) == 0.0


def test_the_snap_keeps_the_cameras_motion_so_the_release_can_take_it_from_before():
    frames = pan(19, 2, (1.3, -0.4))
    frames[1, :, 20:40, 30:50] = frames[0, :, 20:40, 26:46]  # something moving against the pan
    grey = luma(frames)
    u = flow_both_ways(grey[1:], grey[:1])
    snapped = snap_to_global(u, torch.cat([grey[1:], grey[:1]]), torch.cat([grey[:1], grey[1:]]), 0.001)
    assert not torch.equal(snapped, u)  # the snap replaced some vectors
    assert torch.equal(camera_motion(snapped), camera_motion(u))
    assert camera_motion(u).shape == (2, 2, 1, 1)
    assert torch.equal(released(snapped[:1], 0.5), released(snapped[:1], 0.5, camera_motion(u)[:1]))


def test_the_features_blend_lets_a_walker_go_and_the_output_blend_keeps_it():
    frames = torch.full((2, 3, H, W), 0.3) + 0.2 * texture(17)[..., :H, :W]  # a still, textured background
    square = 0.2 + 0.6 * texture(18)[0, :, :24, :24]
    frames[0, :, 20:44, 20:44] = square  # a textured square, someone walking
    frames[1, :, 20:44, 22:46] = square  # ... 2 px to the right
    motion = Temporal(TemporalSettings(phase=False)).motion(frames)
    kept = Temporal(TemporalSettings(phase=False, release=0.0)).motion(frames)
    walker, wall = (slice(None), slice(26, 38), slice(28, 40)), (slice(None), slice(50, 70), slice(60, 90))
    # On the walker the features keep none of their past (before: most of it), the output blend all it had.
    assert float(motion.weight[1][walker].max()) == 0.0 < 0.5 < float(kept.weight[1][walker].median())
    assert torch.equal(motion.output_weight, kept.output_weight)
    # Behind it, what stands still keeps its past as before.
    assert torch.allclose(motion.weight[1][wall], kept.weight[1][wall]) and float(motion.weight[1][wall].min()) > 0.9
    # With one gate for both blends the output still gets its own, unreleased, map.
    one = Temporal(TemporalSettings(phase=False, output_tolerance=0.05)).motion(frames)
    assert one.output_weight is not None and float(one.output_weight[1][walker].median()) > 0.5


def test_the_phase_starts_again_where_regrid_says():
    frames = pan(15, 6, (1.3, 0.0))
    state = Temporal(PHASE_ONLY)
    p = state.settings.phase_period
    assert state.regrid([0, p - 1, p, 2 * p, 2 * p + 1]) == [True, False, True, True, False]
    assert Temporal(TemporalSettings.off()).regrid([0, p]) == [False, False]
    a = state.motion(frames[:3], regrid=[True, False, False])
    b = state.motion(frames[3:], regrid=[True, False, False])
    assert float(a.shift[2].abs().sum()) > 0 and torch.equal(b.shift[0], torch.zeros(2))
    # Only the phase starts again: the memory is kept, and its flow knows the frame moved.
    assert not b.fresh[0] and float(b.weight[0].mean()) > 0.5
    assert abs(float(b.flow[0, 0, 10:-10, 10:-10].median()) - (1.3 - float(a.shift[2, 0]))) < 0.15


def test_a_still_clip_stays_still_and_sharp():
    base = texture(16)[..., :H, :W]
    frames = base.expand(6, 3, H, W).clone()
    g = torch.Generator().manual_seed(16)
    stylized = (base + 0.08 * torch.randn(6, 3, H, W, generator=g)).clamp(0, 1)
    _, outs, motions = run(Temporal(TemporalSettings(features=0.0)), frames, 3, outputs=stylized)
    assert all(bool((m.shift == 0).all()) for m in motions)  # nothing moved: nothing resampled
    assert float((outs[3:] - outs[2:-1]).abs().mean()) < 0.3 * float((stylized[1:] - stylized[:-1]).abs().mean())
    detail = lambda x: float((x - F.avg_pool2d(x, 5, 1, 2)).abs().mean())  # noqa: E731
    assert detail(outs[-1]) > 0.8 * detail(stylized[-1])  # the strokes keep their contrast


def test_source_averaging_takes_the_noise_out_of_a_still_shot():
    base = texture(17)[..., :H, :W]
    g = torch.Generator().manual_seed(17)
    frames = (base + 0.01 * torch.randn(8, 3, H, W, generator=g)).clamp(0, 1)
    seen = torch.cat(_seen(frames, TemporalSettings(features=0.0, output=0.0, phase=False, source=0.8)))
    assert torch.equal(seen[0], frames[0])  # a shot's first frame as it is
    assert float((seen[4:] - base).abs().mean()) < 0.6 * float((frames[4:] - base).abs().mean())


def test_snap_keeps_the_camera_motion_where_it_explains_the_picture():
    tex = shifted(luma(texture(18)), 0.0, 0.0)
    moved = tex.clone()
    moved[..., 20:50, 30:70] = shifted(luma(texture(18)), 3.0, 0.0)[..., 20:50, 30:70]  # a patch moves 3 px
    u = torch.zeros(1, 2, H, W)
    u[:, 0, 20:50, 30:70] = 3.0
    leaky = u.clone()
    leaky[:, 0, :, :20] = 0.4  # a local flow that drifts where nothing moves
    snapped = snap_to_global(leaky, moved, tex, 0.004)
    assert torch.equal(snapped[:, :, :, :20], torch.zeros(1, 2, H, 20))
    assert torch.equal(snapped[:, :, 26:44, 36:64], u[:, :, 26:44, 36:64])  # the real motion is kept


# --------------------------------------------------------------------------- #
# The fast paths (issue 14) compute what the plain formulas do
# --------------------------------------------------------------------------- #


def _reference_contrast_blend(cur, past, weight, window=5):
    """contrast_blend as first written: four separate boxes."""
    from vidstyle.temporal import _box

    m_cur, m_past = _box(cur, window), _box(past, window)
    d_cur, d_past = cur - m_cur, past - m_past
    d = torch.lerp(d_cur, d_past, weight)
    scale = (_box(d_cur * d_cur, window) / _box(d * d, window).clamp_min(1e-8)).sqrt().clamp(1.0, 2.0)
    return (torch.lerp(m_cur, m_past, weight) + d * scale).clamp(0, 1)


def test_contrast_blend_equals_its_four_box_formula():
    cur, past = texture(1)[..., :H, :W], texture(2)[..., :H, :W]
    weight = texture(3, channels=1)[..., :H, :W]
    torch.testing.assert_close(contrast_blend(cur, past, weight), _reference_contrast_blend(cur, past, weight),
                               atol=1e-6, rtol=0)


def test_snap_to_global_equals_its_two_warp_formula():
    from vidstyle.temporal import _box

    i1 = texture(4, channels=1)[..., :H, :W]
    i0 = shifted(texture(4, channels=1), 0.6, -0.3)[..., :H, :W]
    g = torch.Generator().manual_seed(5)
    u = torch.tensor([0.6, -0.3]).reshape(1, 2, 1, 1) + 0.3 * torch.randn(1, 2, H, W, generator=g)
    glob = u.flatten(2).median(-1).values[:, :, None, None].expand_as(u)
    e_local = _box((warp(i1, u)[0] - i0).abs(), 9)
    e_global = _box((warp(i1, glob)[0] - i0).abs(), 9)
    expected = torch.where(e_global <= e_local + 0.002, glob, u)
    torch.testing.assert_close(snap_to_global(u, i0, i1, 0.002), expected, atol=0, rtol=0)


def test_warp_reuses_its_grid_and_matches_the_plain_formula():
    x = texture(6)[..., :H, :W]
    g = torch.Generator().manual_seed(7)
    flo = 3 * torch.randn(1, 2, H, W, generator=g)
    ys, xs = torch.meshgrid(torch.arange(H, dtype=torch.float32), torch.arange(W, dtype=torch.float32), indexing="ij")
    pos = torch.stack([xs, ys]) + flo[0]
    grid = torch.stack([pos[0] * (2.0 / (W - 1)) - 1.0, pos[1] * (2.0 / (H - 1)) - 1.0], -1)[None]
    for mode in ("bilinear", "bicubic"):
        expected = F.grid_sample(x, grid, mode=mode, padding_mode="border", align_corners=True)
        for _ in range(2):  # the second call takes the cached grid
            out, inside = warp(x, flo, mode)
            torch.testing.assert_close(out, expected, atol=0, rtol=0)
    assert torch.equal(inside[0, 0], (pos[0] >= 0) & (pos[0] <= W - 1) & (pos[1] >= 0) & (pos[1] <= H - 1))


@pytest.mark.parametrize("shift", [0.0, 2.37, -3.6, 4.0])
def test_lanczos_shift_equals_the_tap_sum(shift):
    from vidstyle.temporal import _lanczos_taps, _shift_along

    x = texture(8)[..., :H, :W]
    n = int(torch.tensor(shift).floor())
    taps = _lanczos_taps(shift - n)
    xp = F.pad(x, (abs(n) + 3, abs(n) + 3, 0, 0), mode="reflect")
    expected = sum(t * xp[..., abs(n) + 3 + n + k : abs(n) + 3 + n + k + W] for k, t in zip(range(-2, 4), taps))
    torch.testing.assert_close(_shift_along(x, shift, -1), expected, atol=1e-6, rtol=0)
    assert x.shape == _shift_along(x, shift, -2).shape


@pytest.mark.parametrize("k", [3, 5, 9])
def test_box_equals_the_mean_over_the_replicated_window(k):
    from vidstyle.temporal import _box

    x = torch.rand(2, 3, 37, 41, generator=torch.Generator().manual_seed(9))
    expected = F.avg_pool2d(F.pad(x.double(), (k // 2,) * 4, mode="replicate"), k, stride=1)
    torch.testing.assert_close(_box(x, k).double(), expected, atol=1e-6, rtol=0)


def _plain_box(x, k):
    return F.avg_pool2d(F.pad(x, (k // 2,) * 4, mode="replicate"), k, stride=1)


def _reference_lk_flow(i0, i1, levels=4, iters=2, fine_iters=2, window=9, reg=1e-6):
    """lk_flow as a formula: one tensor per term, the products concatenated, a plain box.

    The gradients are both frames' averaged, but ``i0``'s alone at the finest level.
    """
    from vidstyle.temporal import _grad

    pyr = [(i0, i1)]
    while len(pyr) < levels and min(pyr[-1][0].shape[-2:]) >= 32:
        pyr.append((F.avg_pool2d(pyr[-1][0], 2), F.avg_pool2d(pyr[-1][1], 2)))
    u = torch.zeros(i0.shape[0], 2, *pyr[-1][0].shape[-2:])
    for level in reversed(range(len(pyr))):
        a, b = pyr[level]
        u = resize_flow(u, tuple(a.shape[-2:]))
        ax, ay = _grad(a)
        for _ in range(iters if level else fine_iters):
            bw, _ = warp(b, u)
            bx, by = _grad(bw) if level else (ax, ay)
            gx, gy, gt = 0.5 * (ax + bx), 0.5 * (ay + by), bw - a
            sxx, sxy, syy, sxt, syt = _plain_box(torch.cat([gx * gx, gx * gy, gy * gy, gx * gt, gy * gt], 1),
                                                 window).split(1, 1)
            sxx, syy = sxx + reg, syy + reg
            det = (sxx * syy - sxy * sxy).clamp_min(1e-12)
            du = torch.cat([-(syy * sxt - sxy * syt), -(sxx * syt - sxy * sxt)], 1) / det
            u = u + du.clamp(-2.0, 2.0)
        u = _plain_box(u, 3)
    return u


def test_lk_flow_equals_its_plain_formula():
    tex = luma(texture(10))
    a, b = shifted(tex, 1.7, -0.6), shifted(tex, 0.0, 0.0)
    a = a + 0.02 * torch.randn(a.shape, generator=torch.Generator().manual_seed(11))  # some disagreement to solve
    torch.testing.assert_close(lk_flow(a, b), _reference_lk_flow(a, b), atol=1e-3, rtol=0)
    torch.testing.assert_close(lk_flow(a, b, fine_iters=1), _reference_lk_flow(a, b, fine_iters=1), atol=1e-3, rtol=0)


def test_renormalise_is_adain_with_the_blend_own_statistics():
    from vidstyle.stats import channel_stats
    from vidstyle.temporal import _renormalise, adain_with_stats

    g = torch.Generator().manual_seed(12)
    x = 2 * torch.randn(2, 16, 6, 8, generator=g) + 1
    mean, std = torch.randn(2, 16, 1, 1, generator=g), torch.rand(2, 16, 1, 1, generator=g) + 0.5
    torch.testing.assert_close(_renormalise(x, mean, std), adain_with_stats(x, *channel_stats(x), mean, std),
                               atol=1e-5, rtol=1e-5)


def test_snap_gives_the_picture_its_flow_warps_to():
    from vidstyle.temporal import _snap

    i1 = luma(texture(13))[..., :H, :W]
    i0 = shifted(luma(texture(13)), 0.6, -0.3)[..., :H, :W]
    u = torch.tensor([0.6, -0.3]).reshape(1, 2, 1, 1) + 0.3 * torch.randn(1, 2, H, W, generator=torch.Generator().manual_seed(14))
    snapped, moved = _snap(u, i0, i1, 0.002)
    assert torch.equal(snapped, snap_to_global(u, i0, i1, 0.002))
    assert torch.equal(moved, warp(i1, snapped)[0])


@pytest.mark.parametrize("pool", [False, True])
def test_maps_at_resamples_flow_and_maps_as_one_by_one(pool):
    from vidstyle.temporal import _maps_at

    g = torch.Generator().manual_seed(15)
    motion = Motion((False,), 2 * torch.randn(1, 2, 36, 48, generator=g), torch.rand(1, 1, 36, 48, generator=g),
                    still=torch.rand(1, 1, 36, 48, generator=g))
    size = (9, 12) if pool else (72, 96)
    one = (lambda m: F.adaptive_avg_pool2d(m, size)) if pool else (
        lambda m: F.interpolate(m, size=size, mode="bilinear", align_corners=False))
    flows, weights, still = _maps_at(motion, size, pool)
    torch.testing.assert_close(flows, resize_flow(motion.flow, size), atol=1e-6, rtol=0)
    assert torch.equal(weights, one(motion.weight)) and torch.equal(still, one(motion.still))


# --------------------------------------------------------------------------- #
# Still pixels keep more of the past
# --------------------------------------------------------------------------- #

STILL = TemporalSettings(features=0.0, still_output=0.97, still_plain=True)


def test_stillness_is_one_where_nothing_moved_and_zero_where_something_did():
    cur = luma(texture(19)[..., :H, :W])
    moved = cur.clone()
    moved[..., 20:40, 30:50] += 0.2  # a patch changed
    back = torch.zeros(1, 2, H, W)
    back[:, 0, :, 70:] = 1.0  # and the flow moves one part of the frame by a pixel
    s = stillness(back, cur, moved, 0.1, 0.01)
    assert float(s[..., 50:, :20].min()) > 0.99
    assert float(s[..., 24:36, 34:46].max()) < 1e-6 and float(s[..., :, 72:].max()) < 1e-6


def test_a_still_noisy_shot_keeps_more_of_the_past_where_it_stands_still():
    g = torch.Generator().manual_seed(20)
    base = texture(20)[..., :H, :W]
    frames = (base + 0.003 * torch.randn(10, 3, H, W, generator=g)).clamp(0, 1)  # codec noise, nothing moves
    stylized = (base + 0.08 * torch.randn(10, 3, H, W, generator=g)).clamp(0, 1)  # the texture crawls
    flicker = lambda x: float((x[5:] - x[4:-1]).abs().mean())  # noqa: E731
    _, usual, _ = run(Temporal(TemporalSettings(features=0.0)), frames, 2, outputs=stylized)
    _, still, motions = run(Temporal(STILL), frames, 2, outputs=stylized)
    assert all(float(m.still[1:].mean()) > 0.9 for m in motions)
    assert flicker(still) < 0.6 * flicker(usual)
    assert flicker(still) < 0.15 * flicker(stylized)


def test_still_weights_leave_a_moving_object_no_trail():
    frames = torch.full((6, 3, H, W), 0.3)
    frames += 0.2 * texture(21)[..., :H, :W]
    for i in range(6):
        frames[i, :, 20:40, 10 + 8 * i : 30 + 8 * i] = 0.9  # a bright square moving 8 px a frame
    _, plain, _ = run(Temporal(TemporalSettings.off()), frames, 3)
    vacated = (slice(None), slice(20, 40), slice(10 + 8 * 4, 10 + 8 * 5))
    assert float((plain[5][vacated] - plain[4][vacated]).abs().mean()) > 0.3
    # A plain blend of the pictures: nothing of the square stays where it was.
    _, outs, _ = run(Temporal(TemporalSettings(features=0.0, output=0.8, still_output=0.97, contrast=0)), frames, 3)
    assert float((outs[5][vacated] - plain[5][vacated]).abs().mean()) < 0.04  # as test_a_moving_object_leaves_no_trail
    # Every blend: no more of it than without the still weights.
    usual = replace(TemporalSettings(), still_output=0.0)
    _, before, _ = run(Temporal(usual), frames, 3)
    _, after, _ = run(Temporal(replace(usual, still_features=0.97, still_output=0.97, still_plain=True)), frames, 3)
    assert float((after[5][vacated] - before[5][vacated]).abs().mean()) < 0.01


def test_still_weights_change_nothing_on_a_moving_camera():
    frames = pan(22, 6, (1.3, 0.4))
    _, usual, _ = run(Temporal(TemporalSettings()), frames, 3)
    _, still, motions = run(Temporal(replace(TemporalSettings(), still_output=0.97, still_features=0.97,
                                             still_plain=True)), frames, 3)
    assert all(float(m.still.max()) < 1e-3 for m in motions)
    assert torch.allclose(usual, still, atol=1e-3)


def test_still_copy_keeps_the_past_strokes_unchanged_and_lets_a_real_change_through():
    g = torch.Generator().manual_seed(24)
    base = texture(24)[..., :H, :W]
    frames = (base + 0.002 * torch.randn(8, 3, H, W, generator=g)).clamp(0, 1)  # a still shot
    strokes = (base + 0.1 * torch.randn(1, 3, H, W, generator=g)).clamp(0, 1)
    stylized = (strokes + 0.004 * torch.randn(8, 3, H, W, generator=g)).clamp(0, 1)  # redrawn within a hair
    stylized[5:, :, 10:30, 10:30] = 0.9  # the stylizer draws something else there from frame 5 on
    settings = TemporalSettings(features=0.0, still_copy=0.02)
    _, outs, _ = run(Temporal(settings), frames, 2, outputs=stylized)
    _, usual, _ = run(Temporal(replace(settings, still_copy=0.0)), frames, 2, outputs=stylized)
    off_first = lambda x: float((x[7, :, 40:, 40:] - stylized[0, :, 40:, 40:]).abs().mean())  # noqa: E731
    # Copied, not averaged: the first frame's strokes, to within a small fraction of the wobble.
    assert off_first(outs) < 0.3 * off_first(usual)
    moved = lambda x: float((x[4:, :, 40:, 40:] - x[3:-1, :, 40:, 40:]).abs().mean())  # noqa: E731
    assert moved(outs) < 0.5 * moved(usual)
    # A change far beyond the wobble is not held back by the copy: as much of it as without.
    patch = (slice(None), slice(12, 28), slice(12, 28))
    assert float((outs[7][patch] - usual[7][patch]).abs().mean()) < 0.02


def test_the_output_blend_lets_go_of_new_strokes_that_do_not_line_up_with_the_past():
    g = torch.Generator().manual_seed(31)
    base = texture(31)[..., :H, :W]
    frames = (base + 0.002 * torch.randn(8, 3, H, W, generator=g)).clamp(0, 1)  # a still shot
    stylized = (base + 0.1 * torch.randn(1, 3, H, W, generator=g)).clamp(0, 1).repeat(8, 1, 1, 1)
    stylized = (stylized + 0.004 * torch.randn(8, 3, H, W, generator=g)).clamp(0, 1)  # redrawn within a hair
    # From frame 5 on, the decoder draws other strokes in a patch: a checkerboard, then its inverse.
    board = ((torch.arange(H)[:, None] // 2 + torch.arange(W)[None] // 2) % 2).float().expand(3, H, W)
    stylized[5:, :, 16:48, 16:48] = board[:, 16:48, 16:48]
    stylized[6:, :, 16:48, 16:48] = 1 - board[:, 16:48, 16:48]
    settings = TemporalSettings(features=0.0)
    _, gated, _ = run(Temporal(settings), frames, 2, outputs=stylized)
    _, averaged, _ = run(Temporal(replace(settings, stroke_tolerance=0.0)), frames, 2, outputs=stylized)
    patch = (slice(None), slice(20, 44), slice(20, 44))  # away from the patch's edges
    off = lambda x, i: float((x[i][patch] - stylized[i][patch]).abs().mean())  # noqa: E731
    # Strokes unlike the past's are drawn as the decoder drew them, not averaged into a grey wash: the more
    # unlike (the inverse checkerboard after the checkerboard), the less of the past.
    for i in (5, 6):
        assert off(gated, i) < 0.15 * off(averaged, i)
    assert off(gated, 6) < 0.01 < 0.3 < off(averaged, 6)
    # The decoder's small wobble is blended as before: outside the patch the gate changes nearly nothing.
    rest = (slice(None), slice(None), slice(52, None))
    assert float((gated[:, rest[0], rest[1], rest[2]] - averaged[:, rest[0], rest[1], rest[2]]).abs().max()) < 2e-3


def zoom(seed: int, n: int, step: float) -> torch.Tensor:
    """``n`` frames of one texture zoomed in about the centre by ``step`` a frame (1.03: 3%): ``(n, 3, H, W)``."""
    tex = texture(seed, h=H, w=W)
    frames = []
    for i in range(n):
        theta = torch.tensor([[step**-i, 0.0, 0.0], [0.0, step**-i, 0.0]]).unsqueeze(0)
        grid = F.affine_grid(theta, [1, 3, H, W], align_corners=False)
        frames.append(F.grid_sample(tex, grid, mode="bicubic", padding_mode="border", align_corners=False))
    return torch.cat(frames).clamp(0, 1)


def test_the_output_blend_lets_go_of_what_the_cameras_zoom_moves_apart():
    on, off = TemporalSettings(), TemporalSettings(zoom_release=0.0)
    frames = zoom(32, 4, 1.05)
    zoomed, plain = Temporal(on).motion(frames), Temporal(off).motion(frames)
    centre = (slice(None), slice(H // 3, 2 * H // 3), slice(W // 3, 2 * W // 3))
    sides = (slice(None), slice(None), slice(4, 12))
    for i in (1, 2, 3):
        # At the sides the zoom moves the picture about 2 px a frame apart from the centre: nothing of the past.
        assert float(zoomed.output_weight[i][sides].mean()) < 0.05 * float(plain.output_weight[i][sides].mean())
        # At the centre it moves it by 1 px or less: most of the past kept.
        assert float(zoomed.output_weight[i][centre].mean()) > 0.6 * float(plain.output_weight[i][centre].mean())
    assert torch.equal(zoomed.weight, plain.weight)  # the features' blend is not this gate's
    # The carry's copy along the zoom would magnify the old strokes frame after frame: a zooming frame copies nothing.
    carried = Temporal(replace(on, carry=0.02)).motion(frames).carry
    uncarried = Temporal(replace(off, carry=0.02)).motion(frames).carry
    assert float(uncarried[1:].mean()) > 0.5
    assert float(carried[1:].abs().max()) == 0.0
    # A pan fits a scale of 1: its weights are kept as they were.
    frames = pan(33, 4, (0.6, -0.3))
    a, b = Temporal(on).motion(frames), Temporal(off).motion(frames)
    assert float((a.output_weight[1:] - b.output_weight[1:]).abs().max()) < 0.05
    a, b = Temporal(replace(on, carry=0.02)).motion(frames), Temporal(replace(off, carry=0.02)).motion(frames)
    assert float(b.carry[1:].mean()) > 0.5 and torch.equal(a.carry, b.carry)  # and so is its carry


# --------------------------------------------------------------------------- #
# The camera carry
# --------------------------------------------------------------------------- #


def test_fit_camera_recovers_a_zoom_and_a_pan_past_a_walking_person():
    size = (96, 128)
    model = torch.tensor([0.99, 2.0, 0.995, -1.5], dtype=torch.float64)
    back = camera_flow(model, (48, 64), size)
    back[..., 10:30, 20:30] += torch.tensor([3.0, -2.0]).reshape(1, 2, 1, 1)  # 6.5% of the frame moves on its own
    ok = torch.ones(48, 64, dtype=torch.bool)
    assert torch.allclose(fit_camera(back, ok, size), model, atol=1e-4)
    # The flow the model gives, at the flow size: the previous position of each pixel centre, in flow pixels.
    assert torch.allclose(camera_flow(torch.tensor([1.0, 4.0, 1.0, 0.0], dtype=torch.float64), (48, 64), size),
                          fixed_flow(1, 2.0, 0.0, 48, 64))


def test_camera_carry_resamples_by_a_zoom_and_a_shift_per_axis():
    x = torch.rand(1, 3, 10, 12, generator=torch.Generator().manual_seed(0), dtype=torch.float64)
    # A whole shift of 2 px along x, 1 px along y: a crop, the edge repeated.
    moved, _ = camera_carry(x, torch.tensor([1.0, 2.0, 1.0, 1.0], dtype=torch.float64))
    assert torch.allclose(moved[..., :9, :10], x[..., 1:, 2:])
    assert torch.allclose(moved[..., :9, 10:], x[..., 1:, 11:].expand(-1, -1, -1, 2))
    # Each point's weights sum to one, and a ramp is resampled at the zoomed and shifted positions.
    index, weight = lanczos_taps(40, 0.9, 1.3)
    assert index.shape == weight.shape == (6, 40) and torch.allclose(weight.sum(0), torch.ones(40, dtype=torch.float64))
    ramp = torch.arange(40.0, dtype=torch.float64)
    assert torch.allclose((weight * ramp[index]).sum(0)[5:30], 0.9 * ramp[5:30] + 1.3, atol=2e-2)
    # Both axes at once equal the taps applied one axis after the other, as matrices.
    pic = torch.rand(1, 1, 30, 40, generator=torch.Generator().manual_seed(1), dtype=torch.float64) * 0.8 + 0.1
    model = torch.tensor([0.97, 1.6, 1.02, -0.7], dtype=torch.float64)

    def matrix(n, scale, shift):
        i, w = lanczos_taps(n, scale, shift)
        return torch.zeros(n, n, dtype=torch.float64).scatter_add_(1, i.T, w.T)

    want = (matrix(30, 1.02, -0.7) @ pic @ matrix(40, 0.97, 1.6).T).clamp(0, 1)
    assert torch.allclose(camera_carry(pic, model)[0], want)


def test_camera_carry_copies_a_still_camera_exactly_and_marks_where_the_picture_enters():
    past = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(1))
    same, inside = camera_carry(past, torch.tensor([1.0, 0.01, 1.0, -0.02], dtype=torch.float64))
    assert same is past and bool(inside.all())  # a fixed camera's wobble: no resampling to pile up
    moved, inside = camera_carry(past, torch.tensor([1.0, 3.0, 1.0, 0.0], dtype=torch.float64))
    assert torch.allclose(moved[..., :-3], past[..., 3:], atol=1e-5)
    assert bool(inside[..., :-3].all()) and not bool(inside[..., -3:].any())


def test_camera_carry_leaves_out_what_was_drawn_at_the_sides_when_the_camera_moves():
    past = torch.rand(1, 3, 20, 30, generator=torch.Generator().manual_seed(1))
    # A pan of 3 px with a small zoom in y: positions sx * x + tx, sy * y + ty of the previous frame.
    model = torch.tensor([1.0, 3.0, 0.98, 0.5], dtype=torch.float64)
    moved, inside = camera_carry(past, model, edge=4)
    assert torch.equal(moved, camera_carry(past, model)[0])  # the edge changes where, not what
    px = 1.0 * torch.arange(30) + 3.0
    py = 0.98 * torch.arange(20) + 0.5
    want = ((py >= 4) & (py <= 15))[:, None] & ((px >= 4) & (px <= 25))[None, :]
    assert torch.equal(inside[0, 0].bool(), want)
    assert not bool(inside[..., 0, :].any()) and not bool(inside[..., :, -5:].any())  # both sides' strokes stay out
    # A still camera copies every pixel where it was drawn, its sides too.
    _, inside = camera_carry(past, torch.tensor([1.0, 0.01, 1.0, -0.02], dtype=torch.float64), edge=4)
    assert bool(inside.all())


def test_camera_holds_where_picture_and_flow_follow_the_camera():
    frames = pan(20, 2, (2.0, 0.0))
    cur, prev = luma(frames[1:]), luma(frames[:1])
    frames_obj = frames.clone()
    frames_obj[1, :, 20:40, 30:50] = 0.95  # something new in the current frame
    model = torch.tensor([1.0, 2.0, 1.0, 0.0], dtype=torch.float64)
    back = fixed_flow(1, 2.0, 0.0)
    holds = camera_holds(luma(frames_obj[1:]), prev, back, model, (H, W), 0.02, 0.0)
    assert float(holds[..., 5:-5, 5:15].mean()) == 1.0 and float(holds[..., 25:35, 35:45].max()) == 0.0
    # The same picture, but the flow says a part moves with something else: not held there when asked.
    back[..., 50:70, 60:90] = 0.0
    agreed = camera_holds(cur, prev, back, model, (H, W), 0.02, 0.25)
    assert float(agreed[..., 55:65, 65:85].max()) == 0.0 and float(agreed[..., 5:40, 5:50].mean()) == 1.0


def test_the_carry_keeps_a_pans_strokes_and_starts_again_with_the_phase():
    frames = pan(21, 8, (2.0, 1.0))  # whole pixels, so that the measure's warp is exact
    g = torch.Generator().manual_seed(21)
    strokes = (frames + 0.08 * torch.randn(8, 3, H, W, generator=g)).clamp(0, 1)  # the decoder redraws every frame
    base = TemporalSettings(features=0.0, output=0.8)
    carried = TemporalSettings(features=0.0, output=0.8, carry=0.02)
    _, blended, _ = run(Temporal(base), frames, 4, outputs=strokes)
    _, copied, motions = run(Temporal(carried), frames, 4, outputs=strokes)

    def crawl(outs):  # the output's change from frame to frame along the pan, away from the edges
        past, _ = warp(outs[1:-1], fixed_flow(6, 2.0, 1.0))
        return float((outs[2:] - past)[..., 8:-8, 8:-8].abs().mean())

    assert crawl(copied) < 0.5 * crawl(blended)
    assert all(not bool(m.camera[i].isnan().any()) for m in motions for i in range(4) if not m.fresh[i])
    # A copy never forgets, so the memory starts again with the grid phase: a regrid frame is fresh.
    state = Temporal(carried)
    assert state.motion(frames[:2], regrid=[True, False]).fresh == (True, False)
    assert state.motion(frames[2:4], regrid=[True, False]).fresh == (True, False)
    assert Temporal(base).motion(frames[:4], regrid=[True, False, True, False]).fresh == (True, False, False, False)
    p = carried.phase_period
    assert Temporal(replace(carried, phase=False)).regrid([0, 1, p]) == [True, False, True]  # even with no grid lock


def test_the_carry_leaves_a_moving_object_no_trail():
    frames = torch.full((6, 3, H, W), 0.3)
    frames += 0.2 * texture(10)[..., :H, :W]
    for i in range(6):
        frames[i, :, 20:40, 10 + 8 * i : 30 + 8 * i] = 0.9
    _, outs, _ = run(Temporal(TemporalSettings(features=0.0, output=0.9, contrast=0, carry=0.02)), frames, 3)
    _, plain, _ = run(Temporal(TemporalSettings.off()), frames, 3)
    vacated = (slice(None), slice(20, 40), slice(10 + 8 * 4, 10 + 8 * 5))
    assert float((outs[5][vacated] - plain[5][vacated]).abs().mean()) < 0.04  # as test_a_moving_object_leaves_no_trail


def test_with_a_still_camera_the_carry_lets_the_strokes_around_a_person_who_moved_on_fade():
    background = 0.3 + 0.2 * texture(22)[..., :H, :W]
    n = 14
    decoded, holds = [], []
    for i in range(n):
        x = 10 + 2 * i  # someone walking slowly through a still shot
        d = background.clone()
        # The decoder's strokes around them reach past their outline (a halo of 6 px).
        d[..., 14:46, max(0, x - 6) : x + 26] += 0.3
        d[..., 20:40, x : x + 20] = 0.9
        decoded.append(d.clamp(0, 1))
        held = torch.ones(1, 1, H, W)
        held[..., 20:40, max(0, x - 8) : x + 20] = 0  # the source changed where they are and where they were
        holds.append(held)
    still = torch.tensor([[1.0, 0.0, 1.0, 0.0]], dtype=torch.float64)  # the camera stands still

    def render(settings):
        state, outs = Temporal(settings), []
        for i in range(n):
            motion = Motion((i == 0,), torch.zeros(1, 2, H, W), holds[i] * (i > 0), (1.0,), None, None,
                            still, holds[i] * (i > 0))
            outs.append(state.output(decoded[i], motion))
        return torch.cat(outs)

    settings = TemporalSettings(features=0.0, output=0.8, contrast=0, carry=0.02)
    kept, faded = render(replace(settings, carry_near=0)), render(settings)
    # x 4-10 was halo in frames 0-3 and background since: a plain copy keeps the halo for good; near what is
    # not carried the copy waits for the decoder to redraw it alike, and the output blend lets the halo fade.
    left = (slice(None), slice(14, 20), slice(4, 10))
    halo_kept = float((kept[-1][left] - decoded[-1][0][left]).abs().mean())
    halo_faded = float((faded[-1][left] - decoded[-1][0][left]).abs().mean())
    assert halo_kept > 0.25 and halo_faded < 0.5 * halo_kept, (halo_kept, halo_faded)
    # Away from them the still background is copied as before.
    far = (slice(None), slice(50, 70), slice(0, 90))
    assert torch.equal(faded[-1][far], kept[-1][far])
    # A moving camera's copy is resampled, and a partial copy would blend strokes away: no gate there.
    assert camera_moves(torch.tensor([1.0, 0.5, 1.0, 0.0], dtype=torch.float64), (H, W)) == 0.5
    assert camera_moves(still[0], (H, W)) == 0.0


@pytest.mark.parametrize("k", [1, 3, 15, 31, 33])
def test_window_max_equals_max_pooling_to_the_bit(k):
    from vidstyle.temporal import _window_max

    x = torch.rand(2, 1, 37, 50, generator=torch.Generator().manual_seed(k))
    x[x < 0.7] = 0  # a map: mostly nothing, some spots
    want = F.max_pool2d(F.max_pool2d(x, (1, k), 1, (0, k // 2)), (k, 1), 1, (k // 2, 0))
    assert torch.equal(_window_max(_window_max(x, k, -1), k, -2), want)
