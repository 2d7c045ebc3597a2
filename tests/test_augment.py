"""sslkit.augment: shapes, ranges, per-sample randomness, determinism, each op against its definition."""
import pickle

import pytest
import torch
from hypothesis import given, settings, strategies as st
from torchvision.transforms.v2 import functional as TF

import sslkit.augment as A
from sslkit.augment import PRESETS, STATS, SimCLRAugment, for_dataset

# every random op off: what is left is crop (full image here) + resize + normalisation
PLAIN = dict(crop_scale=(1.0, 1.0), flip_p=0.0, jitter_p=0.0, gray_p=0.0)


def gen(seed=0):
    return torch.Generator().manual_seed(seed)


def images(n=8, c=3, h=16, w=16, dtype=torch.uint8, seed=0):
    g = gen(seed)
    if dtype == torch.uint8:
        return torch.randint(0, 256, (n, c, h, w), generator=g, dtype=torch.uint8)
    return torch.rand(n, c, h, w, generator=g, dtype=dtype)


ALL_ON = dict(jitter_p=1.0, gray_p=0.5, blur_p=0.5, solarize_p=0.5)


# ---------------------------------------------------------------- shapes, dtype, range
@pytest.mark.parametrize("c", [1, 3])
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32, torch.float64])
def test_shape_dtype_range(c, dtype):
    x = images(6, c, 20, 20, dtype)
    out = SimCLRAugment(20, c, **ALL_ON)(x, generator=gen())
    assert out.shape == (6, c, 20, 20) and out.dtype == torch.float32 and out.device == x.device
    assert torch.isfinite(out).all()
    assert out.min() >= 0 and out.max() <= 1  # mean=None, std=None: no normalisation


@pytest.mark.parametrize("hw,size", [((32, 32), 16), ((12, 12), 24), ((20, 30), 16)])
def test_resizes_to_size(hw, size):
    out = SimCLRAugment(size, 3, **ALL_ON)(images(4, 3, *hw), generator=gen())
    assert out.shape == (4, 3, size, size)


def test_normalisation_uses_mean_and_std():
    x = images(4, 3, 16, 16)
    mean, std = (0.5, 0.4, 0.3), (0.2, 0.25, 0.3)
    plain = SimCLRAugment(16, 3, **PLAIN)(x)
    normed = SimCLRAugment(16, 3, **PLAIN, mean=mean, std=std)(x)
    expect = (plain - torch.tensor(mean).view(1, 3, 1, 1)) / torch.tensor(std).view(1, 3, 1, 1)
    torch.testing.assert_close(normed, expect, atol=1e-5, rtol=1e-5)


def test_empty_batch():
    assert SimCLRAugment(8, 1)(torch.zeros(0, 1, 8, 8, dtype=torch.uint8)).shape == (0, 1, 8, 8)


# ---------------------------------------------------------------- randomness
def test_per_sample_randomness():
    x = images(1, 3, 32, 32).expand(16, -1, -1, -1)  # 16 copies of one image
    out = for_dataset("cifar10")(x, generator=gen())
    flat = out.flatten(1)
    assert not torch.allclose(flat[:8], flat[8:])
    assert torch.cdist(flat, flat).add(torch.eye(16) * 1e9).min() > 1e-3  # all 16 views differ


def test_seeded_generator_is_deterministic():
    aug = SimCLRAugment(24, 3, **ALL_ON)
    x = images(8, 3, 32, 32)
    a, b, c = aug(x, generator=gen(1)), aug(x, generator=gen(1)), aug(x, generator=gen(2))
    assert torch.equal(a, b)
    assert not torch.allclose(a, c)
    g = gen(1)
    assert not torch.allclose(aug(x, generator=g), aug(x, generator=g))  # two views from one stream


def test_global_rng_used_without_generator():
    aug, x = for_dataset("cifar10"), images(4, 3, 32, 32)
    torch.manual_seed(3)
    a = aug(x)
    torch.manual_seed(3)
    assert torch.equal(a, aug(x))


def test_cpu_chunking_does_not_change_the_result(monkeypatch):
    aug, x = SimCLRAugment(16, 3, **ALL_ON), images(10, 3, 16, 16)
    whole = aug(x, generator=gen(5))
    monkeypatch.setattr(A, "_CPU_CHUNK_ELEMS", 3 * 16 * 16 * 3)  # 3 images per chunk
    torch.testing.assert_close(aug(x, generator=gen(5)), whole, atol=1e-6, rtol=0)


# ---------------------------------------------------------------- each op
@pytest.mark.parametrize("dtype", [torch.uint8, torch.float32])
def test_identity_when_everything_is_off(dtype):
    x = images(4, 3, 16, 16, dtype)
    out = SimCLRAugment(16, 3, **PLAIN)(x, generator=gen())
    ref = x.float() / 255 if dtype == torch.uint8 else x
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_flip():
    x = images(4, 1, 12, 12)
    out = SimCLRAugment(12, 1, **{**PLAIN, "flip_p": 1.0})(x, generator=gen())
    torch.testing.assert_close(out, torch.flip(x.float() / 255, dims=[-1]), atol=1e-5, rtol=0)


def test_crop_boxes_follow_scale_and_ratio():
    aug = SimCLRAugment(16, 3, crop_scale=(0.2, 0.5), crop_ratio=(0.5, 2.0))
    n, h_in, w_in = 4000, 40, 60
    u = torch.rand(n, 2 * A._CROP_TRIES + 2, generator=gen())
    sx, tx, sy, ty = aug._crop_box(u, torch.zeros(n, dtype=torch.bool), h_in, w_in)
    w, h = sx * w_in, sy * h_in  # box size in pixels (half-extent in [-1, 1] units = fraction of side)
    area, ratio = w * h / (h_in * w_in), w / h
    assert area.min() >= 0.2 - 1e-5 and area.max() <= 0.5 + 1e-5
    assert ratio.min() >= 0.5 - 1e-5 and ratio.max() <= 2.0 + 1e-5
    assert (tx - sx >= -1 - 1e-5).all() and (tx + sx <= 1 + 1e-5).all()  # inside the image
    assert (ty - sy >= -1 - 1e-5).all() and (ty + sy <= 1 + 1e-5).all()
    assert ratio.log().std() > 0.3 and area.std() > 0.05  # actually spread over the ranges


def test_grid_equals_affine_grid():
    aug = SimCLRAugment(10, 3)
    u, flip = torch.rand(6, 2 * A._CROP_TRIES + 2, generator=gen()), torch.tensor([0, 1] * 3, dtype=torch.bool)
    sx, tx, sy, ty = aug._crop_box(u, flip, 24, 32)
    theta = torch.zeros(6, 2, 3)
    theta[:, 0, 0], theta[:, 0, 2], theta[:, 1, 1], theta[:, 1, 2] = sx, tx, sy, ty
    ref = torch.nn.functional.affine_grid(theta, [6, 3, 10, 10], align_corners=False)
    torch.testing.assert_close(aug._grid(sx, tx, sy, ty), ref, atol=1e-6, rtol=0)


def test_grayscale_all():
    out = SimCLRAugment(16, 3, **{**PLAIN, "gray_p": 1.0})(images(4, 3, 16, 16))
    assert torch.equal(out[:, 0], out[:, 1]) and torch.equal(out[:, 1], out[:, 2])


def test_solarize_all():
    x = images(4, 3, 16, 16, torch.float32)
    out = SimCLRAugment(16, 3, **{**PLAIN, "solarize_p": 1.0})(x)
    torch.testing.assert_close(out, torch.where(x >= 0.5, 1 - x, x), atol=1e-5, rtol=0)


def test_blur_reduces_high_frequencies():
    x = images(8, 1, 32, 32, torch.float32)  # white noise: all energy at high frequencies
    out = SimCLRAugment(32, 1, **PLAIN, blur_p=1.0, blur_sigma=(1.0, 2.0))(x, generator=gen())

    def hf(t):  # energy of the discrete Laplacian
        return (4 * t[..., 1:-1, 1:-1] - t[..., :-2, 1:-1] - t[..., 2:, 1:-1]
                - t[..., 1:-1, :-2] - t[..., 1:-1, 2:]).pow(2).mean(dim=(1, 2, 3))

    assert (hf(out) < 0.2 * hf(x)).all()
    none = SimCLRAugment(32, 1, **PLAIN, blur_p=1.0, blur_sigma=(1.0, 2.0))
    assert torch.equal(none._blur(x.clone(), torch.ones(8), torch.zeros(8, dtype=torch.bool)), x)  # p=0 rows


@pytest.mark.parametrize("size", [16, 96])
def test_blur_matches_torchvision(size):
    aug = SimCLRAugment(size, 3, blur_p=1.0)
    x, sigma = images(4, 3, size, size, torch.float32), torch.tensor([0.1, 0.7, 1.3, 2.0])
    ref = torch.stack([TF.gaussian_blur(xi, [aug.blur_kernel] * 2, [s.item()] * 2) for xi, s in zip(x, sigma)])
    out = aug._blur(x.clone(), sigma, torch.ones(4, dtype=torch.bool))
    torch.testing.assert_close(out, ref, atol=1e-5, rtol=0)


def test_colour_jitter_matches_torchvision():
    aug = SimCLRAugment(16, 3)
    x = images(6, 3, 16, 16, torch.float32)
    x[0, :, :4] = 0.5  # gray pixels
    x[1, 0] = x[1, 1]  # ties for the maximum channel
    f = torch.tensor([0.0, 0.3, 0.8, 1.0, 1.2, 1.9])
    consts = aug._const(x.device)
    for i, fn in enumerate([TF.adjust_brightness, TF.adjust_contrast, TF.adjust_saturation]):
        factors = [None] * 4
        factors[i] = f
        ref = torch.stack([fn(xi, fi.item()) for xi, fi in zip(x, f)])
        torch.testing.assert_close(aug._jitter(x.clone(), *factors, consts), ref, atol=1e-5, rtol=0)
    shift = torch.tensor([-0.5, -0.2, -0.05, 0.0, 0.1, 0.5])
    ref = torch.stack([TF.adjust_hue(xi, s.item()) for xi, s in zip(x, shift)])
    torch.testing.assert_close(aug._hue(x.clone(), shift, consts), ref, atol=1e-5, rtol=0)
    gray = SimCLRAugment(16, 1)  # one channel: contrast uses the image mean
    x1 = images(6, 1, 16, 16, torch.float32)
    ref = torch.stack([TF.adjust_contrast(xi, fi.item()) for xi, fi in zip(x1, f)])
    torch.testing.assert_close(gray._jitter(x1.clone(), None, f, None, None, {}), ref, atol=1e-5, rtol=0)


def test_jitter_changes_colour_and_one_channel_ignores_hue():
    x = images(8, 3, 16, 16)
    plain = SimCLRAugment(16, 3, **PLAIN)(x)
    jittered = SimCLRAugment(16, 3, **{**PLAIN, "jitter_p": 1.0})(x, generator=gen())
    assert (plain - jittered).abs().flatten(1).amax(1).min() > 0.01  # every sample changed
    g = SimCLRAugment(16, 1, jitter=(0.4, 0.4, 0.4, 0.1), gray_p=0.5)
    assert g.jitter == (0.4, 0.4, 0.0, 0.0) and g.gray_p == 0.0


def test_strength_scales_jitter():
    assert SimCLRAugment(8, 3, jitter=(0.8, 0.8, 0.8, 0.2), strength=0.5).jitter == pytest.approx((0.4, 0.4, 0.4, 0.1))
    assert SimCLRAugment(8, 3, jitter=(0.8, 0.8, 0.8, 0.4), strength=2).jitter[3] == 0.5  # hue capped


# ---------------------------------------------------------------- evaluation transform
def test_normalize_has_no_randomness_and_resizes():
    aug = for_dataset("cifar10")
    x = images(4, 3, 32, 32)
    out = aug.normalize(x)
    mean, std = (torch.tensor(v).view(1, 3, 1, 1) for v in STATS["cifar10"])
    torch.testing.assert_close(out, (x.float() / 255 - mean) / std, atol=1e-5, rtol=1e-5)
    assert torch.equal(aug.normalize(x), out)
    assert aug.normalize(images(2, 3, 40, 64)).shape == (2, 3, 32, 32)  # centre square, resized
    torch.testing.assert_close(aug.denormalize(out), x.float() / 255, atol=1e-5, rtol=0)
    xf = x.float() / 255
    aug.normalize(xf)
    assert torch.equal(xf, x.float() / 255)  # input untouched


# ---------------------------------------------------------------- validation and presets
@pytest.mark.parametrize("kw,match", [
    (dict(size=0), "size"),
    (dict(channels=2), "channels must be 1"),
    (dict(crop_scale=(0.0, 1.0)), "crop_scale"),
    (dict(crop_scale=(0.5, 0.2)), "crop_scale"),
    (dict(crop_scale=(0.5, 1.5)), "crop_scale"),
    (dict(crop_ratio=(2.0, 1.0)), "crop_ratio"),
    (dict(flip_p=1.5), r"flip_p must be in \[0, 1\], got 1.5"),
    (dict(jitter_p=-0.1), "jitter_p"),
    (dict(gray_p="x"), "gray_p"),
    (dict(blur_p=2), "blur_p"),
    (dict(solarize_p=1.01), "solarize_p"),
    (dict(jitter=(0.4, 0.4)), "jitter must be 4 numbers"),
    (dict(jitter=(0.4, -0.4, 0.4, 0.1)), ">= 0"),
    (dict(blur_sigma=(0.0, 1.0)), "blur_sigma"),
    (dict(mean=(0.5, 0.5)), "one value per channel"),
    (dict(std=(0.5, 0.0, 0.5)), "std must be > 0"),
    (dict(strength=-1), "strength"),
])
def test_invalid_arguments(kw, match):
    args = dict(size=16, channels=3)
    args.update(kw)
    with pytest.raises(ValueError, match=match):
        SimCLRAugment(args.pop("size"), args.pop("channels"), **args)


@pytest.mark.parametrize("x,match", [
    (torch.zeros(3, 16, 16, dtype=torch.uint8), r"\(N, 3, H, W\), got shape \(3, 16, 16\)"),
    (torch.zeros(2, 1, 16, 16, dtype=torch.uint8), r"got shape \(2, 1, 16, 16\)"),
    (torch.zeros(2, 3, 16, 16, dtype=torch.int64), "dtype"),
    ([[1, 2]], "torch.Tensor"),
])
def test_wrong_input(x, match):
    aug = SimCLRAugment(16, 3)
    with pytest.raises(ValueError, match=match):
        aug(x)
    with pytest.raises(ValueError, match=match):
        aug.normalize(x)


def test_wrong_generator():
    with pytest.raises(ValueError, match="generator"):
        SimCLRAugment(8, 1)(images(2, 1, 8, 8), generator=0)


def test_for_dataset():
    with pytest.raises(ValueError, match="unknown dataset 'mnist'.*fashion-mnist.*cifar10"):
        for_dataset("mnist")
    with pytest.raises(ValueError, match="unknown augmentation setting 'blurr'"):
        for_dataset("cifar10", blurr=0.5)
    with pytest.raises(ValueError, match="pass mean= and std="):
        for_dataset("cifar10", channels=1)
    aug = for_dataset("stl10", size=64, blur_p=0.0)
    assert aug.size == 64 and aug.blur_p == 0.0 and aug.mean == STATS["stl10"][0]
    assert set(PRESETS) == set(STATS)
    for name, preset in PRESETS.items():
        aug = for_dataset(name)
        c, s = preset["channels"], min(preset["size"], 32)
        out = for_dataset(name, size=s)(images(2, c, s + 4, s + 4), generator=gen())
        assert out.shape == (2, c, s, s) and torch.isfinite(out).all()
        assert repr(aug).startswith("SimCLRAugment(size=") and "jitter_p=" in repr(aug)


def test_pickles_without_caches():
    aug = for_dataset("cifar10")
    x = images(2, 3, 32, 32)
    aug(x)
    clone = pickle.loads(pickle.dumps(aug))
    assert clone._work == {} and torch.equal(clone(x, generator=gen()), aug(x, generator=gen()))


# ---------------------------------------------------------------- property
@settings(max_examples=25, deadline=None)
@given(n=st.integers(1, 4), c=st.sampled_from([1, 3]), h=st.integers(1, 12), w=st.integers(1, 12),
       size=st.integers(1, 10), as_uint8=st.booleans(), seed=st.integers(0, 2**31 - 1))
def test_property_finite_and_in_range(n, c, h, w, size, as_uint8, seed):
    x = images(n, c, h, w, torch.uint8 if as_uint8 else torch.float32, seed=seed)
    aug = SimCLRAugment(size, c, **ALL_ON)
    out = aug(x, generator=gen(seed))
    assert out.shape == (n, c, size, size)
    assert torch.isfinite(out).all() and out.min() >= 0 and out.max() <= 1
    ev = aug.normalize(x)
    assert ev.shape == (n, c, size, size) and ev.min() >= 0 and ev.max() <= 1


# ---------------------------------------------------------------- views, recipes

def test_views_make_each_group_in_one_call_and_repeat_for_the_same_generator():
    from sslkit.augment import Views, asymmetric_pair, supervised

    big, small = for_dataset("fashion-mnist"), for_dataset("fashion-mnist", 12, crop_scale=(0.05, 0.4))
    calls = []
    real = SimCLRAugment.__call__
    views = Views([(big, 1), (big, 1), (small, 3)])

    def counting(self, x, generator=None):
        calls.append(len(x))
        return real(self, x, generator)

    x = images(5, 1, 28, 28)
    SimCLRAugment.__call__ = counting
    try:
        out = views(x, generator=gen(0))
    finally:
        SimCLRAugment.__call__ = real
    assert calls == [5, 5, 15]  # the three small views: one call on the stacked batch
    assert [tuple(v.shape) for v in out] == [(5, 1, 28, 28)] * 2 + [(5, 1, 12, 12)] * 3
    assert len(views) == 5 and views.sizes == [28, 28, 12, 12, 12] and views.channels == 1
    assert all(torch.equal(a, b) for a, b in zip(out, views(x, generator=gen(0))))
    assert not torch.equal(out[0], out[1]) and not torch.equal(out[2], out[3])
    with pytest.raises(ValueError, match="positive integer"):
        Views([(big, 0)])
    first, second = asymmetric_pair("stl10")
    assert (first.blur_p, first.solarize_p, second.blur_p, second.solarize_p) == (1.0, 0.0, 0.1, 0.2)
    sup = supervised("cifar10")
    assert sup.crop_scale == (0.5, 1.0) and sup.jitter_p == sup.gray_p == sup.blur_p == sup.solarize_p == 0.0


# ---------------------------------------------------------------- GPU and benchmark smoke
@pytest.mark.cuda
def test_cuda_matches_contract():
    aug = for_dataset("cifar10")
    x = images(64, 3, 32, 32).cuda()
    g = torch.Generator(device="cuda").manual_seed(0)
    out = aug(x, generator=g)
    assert out.device.type == "cuda" and out.shape == (64, 3, 32, 32) and torch.isfinite(out).all()
    assert torch.equal(out, aug(x, generator=torch.Generator(device="cuda").manual_seed(0)))
    plain = SimCLRAugment(32, 3, **PLAIN)
    torch.testing.assert_close(plain(x).cpu(), plain(x.cpu()), atol=1e-5, rtol=0)


def test_bench_smoke(monkeypatch):
    import sslkit.data
    from sslkit.tools.bench import bench_augment, format_bench

    # the real loader is tested elsewhere; small made-up digits keep this fast and offline
    monkeypatch.setattr(sslkit.data, "load", lambda name, split, root=None: (images(40, 1, 8, 8), torch.zeros(40)))
    r = bench_augment("digits", n_images=32, batch_size=16, repeats=1, threads=1)
    assert r["n_images"] == 32 and r["sslkit_images_per_s"] > 0 and r["torchvision_images_per_s"] > 0
    assert "ratio" in format_bench(r) and "digits" in format_bench(r)
