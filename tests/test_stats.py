"""Properties of the AdaIN maths (vidstyle.stats) on small random tensors."""
from __future__ import annotations

import pytest
import torch

from vidstyle.stats import (
    StyleStats, adain, channel_stats, masked_stats, mix, normalise_masks, resize_masks, spatial_adain, with_alpha,
)


@pytest.fixture
def feats() -> torch.Tensor:
    g = torch.Generator().manual_seed(0)
    return torch.randn(3, 16, 12, 10, generator=g) * 2.0 + 0.5


def test_channel_stats_shapes_and_values(feats):
    mean, std = channel_stats(feats)
    assert mean.shape == std.shape == (3, 16, 1, 1)
    torch.testing.assert_close(mean.flatten(), feats.mean(dim=(2, 3)).flatten())
    torch.testing.assert_close(std.flatten(), feats.std(dim=(2, 3), unbiased=False).flatten(), rtol=1e-4, atol=1e-5)


def test_channel_stats_eps_keeps_flat_channels_finite():
    mean, std = channel_stats(torch.ones(1, 2, 4, 4))
    assert torch.all(std > 0) and torch.isfinite(std).all()


def test_adain_output_has_the_target_statistics(feats):
    g = torch.Generator().manual_seed(1)
    t_mean = torch.randn(1, 16, 1, 1, generator=g)
    t_std = torch.rand(1, 16, 1, 1, generator=g) + 0.5
    out = adain(feats, t_mean, t_std)
    mean, std = channel_stats(out)
    torch.testing.assert_close(mean, t_mean.expand_as(mean), atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(std, t_std.expand_as(std), atol=1e-3, rtol=1e-3)


def test_alpha_zero_returns_the_content_and_one_the_target(feats):
    target = adain(feats, torch.zeros(1, 16, 1, 1), torch.ones(1, 16, 1, 1))
    assert torch.equal(with_alpha(target, feats, 0.0), feats)
    assert torch.equal(with_alpha(target, feats, 1.0), target)
    torch.testing.assert_close(with_alpha(target, feats, 0.25), 0.25 * target + 0.75 * feats)


def _stats(seed: int, c: int = 16) -> StyleStats:
    g = torch.Generator().manual_seed(seed)
    return StyleStats(torch.randn(c, generator=g), torch.rand(c, generator=g) + 0.1, "enc", f"s{seed}")


def test_mix_equals_the_weighted_sum_of_adain_outputs(feats):
    # The paper interpolates AdaIN outputs; mixing the statistics must give the same features.
    a, b, c = _stats(1), _stats(2), _stats(3)
    w = (0.5, 0.3, 0.2)
    mixed = mix([a, b, c], w)
    direct = sum(wk * adain(feats, *s.as_tensors()) for s, wk in zip((a, b, c), w))
    torch.testing.assert_close(adain(feats, *mixed.as_tensors()), direct, atol=1e-5, rtol=1e-5)


def test_mix_with_one_weight_is_that_style():
    a, b = _stats(1), _stats(2)
    m = mix([a, b], (1.0, 0.0))
    assert torch.equal(m.mean, a.mean) and torch.equal(m.std, a.std)


def test_mix_refuses_mismatched_inputs():
    with pytest.raises(ValueError):
        mix([_stats(1)], (0.5, 0.5))
    other = StyleStats(torch.zeros(16), torch.ones(16), "other-encoder")
    with pytest.raises(ValueError):
        mix([_stats(1), other], (0.5, 0.5))


def test_style_stats_round_trip(tmp_path):
    s = _stats(4, c=512)
    s.save(tmp_path / "a.style")
    back = StyleStats.load(tmp_path / "a.style")
    assert torch.equal(back.mean, s.mean) and torch.equal(back.std, s.std)
    assert back.encoder == "enc" and back.source == "s4"


def test_masks_are_resized_to_the_feature_map_and_partition_unity():
    m = torch.zeros(1, 2, 64, 80)
    m[:, 0, :, :40] = 1
    m[:, 1, :, 40:] = 1
    small = resize_masks(m, (8, 10))
    assert small.shape == (1, 2, 8, 10)
    torch.testing.assert_close(normalise_masks(small).sum(dim=1), torch.ones(1, 8, 10))
    # Nowhere covered: shared equally rather than dropped.
    empty = normalise_masks(torch.zeros(1, 3, 2, 2))
    torch.testing.assert_close(empty, torch.full((1, 3, 2, 2), 1 / 3))


def test_spatial_adain_gives_each_region_its_style(feats):
    a, b = _stats(5), _stats(6)
    masks = torch.zeros(1, 2, 12, 10)
    masks[:, 0, :, :5] = 1
    masks[:, 1, :, 5:] = 1
    x = feats[:1]
    out = spatial_adain(x, masks, torch.stack([a.mean, b.mean]), torch.stack([a.std, b.std]))
    left, right = out[..., :5], out[..., 5:]
    torch.testing.assert_close(channel_stats(left)[0].flatten(), a.mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(channel_stats(right)[0].flatten(), b.mean, atol=1e-4, rtol=1e-4)
    torch.testing.assert_close(channel_stats(left)[1].flatten(), a.std, atol=1e-3, rtol=1e-3)


def test_masked_stats_with_full_mask_equal_channel_stats(feats):
    full = torch.ones(3, 1, 12, 10)
    for got, want in zip(masked_stats(feats, full), channel_stats(feats)):
        torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-5)


def test_channel_stats_match_the_population_variance():
    g = torch.Generator().manual_seed(0)
    feats = 5 + 3 * torch.randn(2, 16, 9, 11, generator=g)
    mean, std = channel_stats(feats)
    flat = feats.double().flatten(2)
    torch.testing.assert_close(mean.flatten(2)[..., 0], flat.mean(2).float(), atol=1e-5, rtol=0)
    torch.testing.assert_close(std.flatten(2)[..., 0], (flat.var(2, unbiased=False) + 1e-5).sqrt().float(),
                               atol=1e-5, rtol=1e-6)
