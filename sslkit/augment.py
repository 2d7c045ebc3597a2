"""Batched per-sample random augmentation: SimCLR's recipe on whole batches, CPU or GPU.

    aug = for_dataset("cifar10")                       # SimCLR CIFAR-10 recipe + CIFAR-10 stats
    g = torch.Generator(device=x.device).manual_seed(0)
    v1, v2 = aug(x, generator=g), aug(x, generator=g)  # x: uint8 (N, 3, 32, 32) -> float32 (N, 3, 32, 32)
    x_eval = aug.normalize(x)                          # no augmentation: the evaluation transform

The recipe is SimCLR's (Chen et al. 2020, "A Simple Framework for Contrastive Learning of
Visual Representations", Appendix A): random resized crop + horizontal flip, colour jitter
(p=0.8), random grayscale (p=0.2), Gaussian blur (ImageNet/STL: p=0.5; off for CIFAR), and,
optionally, solarization (BYOL, Grill et al. 2020). The difference from a torchvision pipeline
is *how*: no per-image Python loop. The batch is transformed with a handful of tensor ops and
every sample draws its own parameters from ONE ``torch.rand`` call, so

* it runs where the batch lives (a device-resident uint8 dataset never leaves the GPU);
* nothing syncs with the host (no ``.item()``, no ``nonzero``, no host->device copies once the
  per-device constants are cached), so it overlaps with the training step;
* it is reproducible: the same generator state gives the same views.

Randomness: pass ``generator`` created on the batch's device (``torch.Generator(device=x.device)``);
parameters are drawn there. A generator on another device also works: parameters are drawn on
the generator's device and copied over (one small copy per call, which on CUDA is a sync point).
Without a generator the device's global RNG is used (seeded by ``torch.manual_seed``). The
random numbers are drawn in a fixed layout whatever the settings, so turning e.g. blur on does
not change the crops drawn from the same seed.

Departures from torchvision's per-image ops, all deliberate (each op's maths is otherwise the
same: jitter, hue and blur agree with torchvision.transforms.v2.functional to 1e-5, see the tests):

* crop + flip + resize is ONE affine sampling grid + ONE ``grid_sample`` (bilinear,
  align_corners=False) with per-sample theta = [[sx, 0, tx], [0, sy, ty]] (flip: sx < 0). The
  grid equals ``F.affine_grid(theta)`` but is built with one fused multiply-add, because
  affine_grid's batched matmul alone cost more than the rest of the crop on CPU. Crop boxes are
  continuous (torchvision rounds to whole pixels) and downscaled crops are not antialiased
  (SimCLR crops are mostly upscaled; large downscales alias slightly more than PIL's).
* the crop box is drawn like torchvision's (area ~ U(scale), log aspect ratio ~ U(log ratio),
  up to 10 tries for a box that fits, else the whole image with the ratio clamped) but the 10
  tries are drawn at once and the first that fits is picked with ``argmax`` (no loop, no sync).
* colour jitter applies brightness -> contrast -> saturation -> hue in this FIXED order (torchvision
  and SimCLR's TF code shuffle the order per image; a per-sample order would mean evaluating
  every op at every position), clamping to [0, 1] after each op as torchvision does. Hue is
  the HSV hue rotation written in closed form (no HSV round trip).
* Gaussian blur is a per-sample separable convolution (reflect padding, kernel ~10% of the output
  size, odd, >= 3) done as a sum of shifted slices weighted per sample; unblurred samples get a
  delta kernel, so they are unchanged.

CPU speed (why the code looks the way it does): float arithmetic only at image size (bool
tensors and ``torch.where`` are ~10x slower than float ops on CPU, so masks are 0/1 floats and
``lerp``); scratch buffers reused between calls (fresh multi-MB temporaries page-fault on every
call, which cost 3-4x the arithmetic); batches processed in ~4 MB chunks that stay in cache.
On the GPU none of this is needed and the whole batch is one pass. Measure with
``python -m sslkit bench augment``.

Values: uint8 input is scaled by 1/255; float input is assumed in [0, 1] (not checked, since
checking would sync the GPU). Before normalisation every output value is in [0, 1].
"""
from __future__ import annotations

import math
from typing import Optional, Sequence

import torch
import torch.nn.functional as F

from sslkit.checks import check_choice, check_number, check_prob, check_range
from sslkit.data import STATS, describe, describe_images

__all__ = ["SimCLRAugment", "Views", "PRESETS", "RESOLUTION_RECIPES", "STATS", "asymmetric_pair", "for_dataset",
           "for_images", "recipe", "supervised"]

# ITU-R 601 luma weights, exactly as torchvision's rgb_to_grayscale (0.2989, not 0.299).
_GRAY = (0.2989, 0.587, 0.114)
_CROP_TRIES = 10  # torchvision's RandomResizedCrop tries 10 boxes before falling back
_CPU_CHUNK_ELEMS = 1 << 20  # CPU chunk: ~4 MB of float32 pixels, to stay in cache (python -m sslkit bench augment)

# Per-dataset settings: ``size`` and ``channels`` plus SimCLRAugment keyword arguments.
PRESETS: dict[str, dict] = {
    # 28x28 grayscale clothes on a black background. A crop of 8% of the area is ~8x8 pixels,
    # often pure background or a featureless patch of fabric, i.e. a false positive pair; so the
    # lower bound is 0.2 as in the small-image recipes of MoCo v2 / SimSiam (Chen & He 2021, CIFAR).
    # No hue/saturation/grayscale (one channel); a mirrored garment is the same class, so flip stays.
    "fashion-mnist": dict(size=28, channels=1, crop_scale=(0.2, 1.0), flip_p=0.5,
                          jitter=(0.4, 0.4, 0.0, 0.0), jitter_p=0.8, gray_p=0.0, blur_p=0.0),
    # SimCLR's CIFAR-10 recipe (Appendix B.9): colour strength s=0.5, no blur.
    "cifar10": dict(size=32, channels=3, crop_scale=(0.08, 1.0), flip_p=0.5,
                    jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8, gray_p=0.2, blur_p=0.0),
    # CIFAR's recipe at 96x96 with SimCLR's ImageNet blur (p=0.5); SimCLR drops blur only for 32x32.
    "stl10": dict(size=96, channels=3, crop_scale=(0.08, 1.0), flip_p=0.5,
                  jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8, gray_p=0.2, blur_p=0.5),
    # 8x8 digits: mild. No flip (a mirrored 3 is not a 3), big crops, light jitter.
    "digits": dict(size=8, channels=1, crop_scale=(0.6, 1.0), crop_ratio=(0.8, 1.25), flip_p=0.0,
                   jitter=(0.2, 0.2, 0.0, 0.0), jitter_p=0.8, gray_p=0.0, blur_p=0.0),
}

# Images of any other source (an image folder) get the recipe the literature uses at their
# resolution: (largest side it applies to, name, SimCLRAugment settings). One channel drops
# saturation, hue and grayscale by itself (SimCLRAugment).
RESOLUTION_RECIPES: list[tuple[float, str, dict]] = [
    # <= 32 px: SimCLR's CIFAR recipe (colour strength 0.5, no blur), crops of at least 20 % of the
    # area as MoCo v2 / SimSiam use for small images (an 8 % crop of a 28 px image is ~8 x 8 pixels).
    (32, "small-image recipe (<= 32 px: SimCLR's CIFAR colours, crop 0.2-1, no blur)",
     dict(crop_scale=(0.2, 1.0), flip_p=0.5, jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8, gray_p=0.2, blur_p=0.0)),
    # up to 159 px: the STL-10 recipe (96 px): CIFAR's colours with SimCLR's blur.
    (159, "medium-image recipe (33-159 px: STL-10's, with blur p 0.5)",
     dict(crop_scale=(0.08, 1.0), flip_p=0.5, jitter=(0.4, 0.4, 0.4, 0.1), jitter_p=0.8, gray_p=0.2, blur_p=0.5)),
    # 160 px and up: SimCLR's ImageNet recipe (Appendix A): colour strength 1.0, blur p 0.5.
    (math.inf, "large-image recipe (>= 160 px: SimCLR's ImageNet one)",
     dict(crop_scale=(0.08, 1.0), flip_p=0.5, jitter=(0.8, 0.8, 0.8, 0.2), jitter_p=0.8, gray_p=0.2, blur_p=0.5)),
]


def recipe(dataset, root=None) -> tuple[str, dict]:
    """(name, SimCLRAugment settings) for a dataset name or :class:`~sslkit.data.DataSpec`: the named
    dataset's :data:`PRESETS` entry, else the :data:`RESOLUTION_RECIPES` entry for its image size."""
    spec = describe(dataset, root)
    if spec.name in PRESETS:
        settings = {k: v for k, v in PRESETS[spec.name].items() if k not in ("size", "channels")}
        return f"{spec.name}'s recipe", settings
    for largest, name, settings in RESOLUTION_RECIPES:
        if spec.size <= largest:
            return name, dict(settings)
    raise AssertionError("RESOLUTION_RECIPES ends at infinity")


class SimCLRAugment:
    """SimCLR augmentation of a whole batch with per-sample random parameters.

    Args:
        size: output side length; views are (N, C, size, size).
        channels: 1 (grayscale) or 3 (RGB). For 1 channel the jitter is brightness + contrast
            only and grayscale is off (saturation, hue and ``gray_p`` are set to 0).
        crop_scale: (lo, hi) range of the crop area as a fraction of the image, 0 < lo <= hi <= 1.
        crop_ratio: (lo, hi) range of the crop aspect ratio w/h, sampled log-uniformly.
        flip_p: probability of a horizontal flip.
        jitter: (brightness, contrast, saturation, hue) strengths as in torchvision's ColorJitter:
            factors ~ U(max(0, 1-b), 1+b) for the first three, hue shift ~ U(-h, h) turns, h <= 0.5.
            SimCLR's colour strength s corresponds to (0.8s, 0.8s, 0.8s, 0.2s).
        jitter_p: probability of applying the colour jitter (SimCLR: 0.8).
        gray_p: probability of converting to grayscale (SimCLR: 0.2).
        blur_p: probability of a Gaussian blur (SimCLR: 0.5 on ImageNet, 0 on CIFAR).
        blur_sigma: (lo, hi) range of the blur sigma in output pixels; kernel size is ~10% of
            ``size``, odd, at least 3.
        solarize_p: probability of solarization (pixels >= 0.5 become 1 - pixel; BYOL uses 0.2).
        mean, std: per-channel normalisation (length ``channels``); None means no normalisation
            (mean 0, std 1), so outputs stay in [0, 1]. ``for_dataset`` fills in ``STATS``.
        strength: multiplies ``jitter`` (hue capped at 0.5): SimCLR's colour-strength knob.

    Call: ``aug(x, generator=None)`` with x uint8 or float in [0, 1], shape (N, channels, H, W)
    on any device -> float32 (N, channels, size, size) on the same device.
    """

    def __init__(self, size: int, channels: int, *, crop_scale=(0.08, 1.0), crop_ratio=(3 / 4, 4 / 3),
                 flip_p: float = 0.5, jitter=(0.4, 0.4, 0.4, 0.1), jitter_p: float = 0.8,
                 gray_p: float = 0.2, blur_p: float = 0.0, blur_sigma=(0.1, 2.0),
                 solarize_p: float = 0.0, mean: Optional[Sequence[float]] = None,
                 std: Optional[Sequence[float]] = None, strength: float = 1.0):
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"size must be a positive integer, got {size!r}")
        if channels not in (1, 3) or isinstance(channels, bool):
            raise ValueError(f"channels must be 1 (grayscale) or 3 (RGB), got {channels!r}")
        self.size, self.channels = size, channels
        self.crop_scale = check_range("crop_scale", crop_scale, 0.0, 1.0, strict_lo=True)
        self.crop_ratio = check_range("crop_ratio", crop_ratio, 0.0, math.inf, strict_lo=True)
        self.flip_p = check_prob("flip_p", flip_p)
        self.strength = check_number("strength", strength, 0.0)
        try:
            b, c, s, h = (float(v) * self.strength for v in jitter)
        except (TypeError, ValueError):
            raise ValueError(f"jitter must be 4 numbers (brightness, contrast, saturation, hue), "
                             f"got {jitter!r}") from None
        if min(b, c, s, h) < 0:
            raise ValueError(f"jitter strengths must be >= 0, got {jitter!r}")
        h = min(h, 0.5)  # a hue shift of +-0.5 turns already covers the whole circle
        self.jitter_p = check_prob("jitter_p", jitter_p)
        self.gray_p = check_prob("gray_p", gray_p)
        if channels == 1:  # saturation, hue and grayscale mean nothing for one channel
            s, h, self.gray_p = 0.0, 0.0, 0.0
        self.jitter = (b, c, s, h)
        self.blur_p = check_prob("blur_p", blur_p)
        self.blur_sigma = check_range("blur_sigma", blur_sigma, 0.0, math.inf, strict_lo=True)
        k = max(3, int(0.1 * size))
        self.blur_kernel = k + 1 if k % 2 == 0 else k  # SimCLR: 10% of the side, odd
        self.solarize_p = check_prob("solarize_p", solarize_p)
        self.mean = self._check_stats("mean", mean, 0.0)
        self.std = self._check_stats("std", std, 1.0)
        if any(v <= 0 for v in self.std):
            raise ValueError(f"std must be > 0 for every channel, got {std!r}")
        self._consts: dict = {}  # per-device constant tensors, built once (no H2D copy per call)
        self._work: dict = {}  # CPU scratch buffers, see _ws

    def _check_stats(self, what, v, default) -> tuple[float, ...]:
        if v is None:
            return (default,) * self.channels
        try:
            v = tuple(float(a) for a in v)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a sequence of {self.channels} numbers, got {v!r}") from None
        if len(v) != self.channels:
            raise ValueError(f"{what} must have one value per channel ({self.channels}), got {v!r}")
        return v

    # ------------------------------------------------------------------ helpers
    def _const(self, device: torch.device) -> dict:
        key = str(device)
        if key not in self._consts:
            c = self.channels
            self._consts[key] = dict(
                mean=torch.tensor(self.mean, device=device).view(1, c, 1, 1),
                inv_std=torch.tensor([1.0 / s for s in self.std], device=device).view(1, c, 1, 1),
                # hue -> fully saturated RGB: clamp(a * |6 hue - c| + b, 0, 1) per channel (see _hue)
                hue_c=torch.tensor([3.0, 2.0, 4.0], device=device).view(1, 3, 1, 1),
                hue_a=torch.tensor([1.0, -1.0, -1.0], device=device).view(1, 3, 1, 1),
                hue_b=torch.tensor([-1.0, 2.0, 2.0], device=device).view(1, 3, 1, 1),
            )
        return self._consts[key]

    def _ws(self, name: str, shape, device: torch.device) -> torch.Tensor:
        """Scratch float32 tensor, reused between calls on CPU.

        Why: on CPU, glibc hands large freed blocks back to the OS, so every fresh multi-MB
        temporary page-faults on first touch; that cost 3-4x the arithmetic here. Reusing grow-only
        buffers removes it. On CUDA the caching allocator already reuses memory: plain allocation.
        Nothing returned to the caller ever aliases a scratch buffer.
        """
        if device.type != "cpu":
            return torch.empty(shape, device=device)
        numel = math.prod(shape)
        buf = self._work.get(name)
        if buf is None or buf.numel() < numel:
            buf = self._work[name] = torch.empty(numel)
        return buf[:numel].view(shape)

    def __getstate__(self):  # pickling (DataLoader workers): drop caches, they are rebuilt lazily
        state = self.__dict__.copy()
        state["_consts"], state["_work"] = {}, {}
        return state

    def _check_input(self, x) -> None:
        if not isinstance(x, torch.Tensor):
            raise ValueError(f"expected a torch.Tensor of shape (N, {self.channels}, H, W), got {type(x).__name__}")
        if x.dim() != 4 or x.shape[1] != self.channels:
            raise ValueError(f"expected a 4-D batch (N, {self.channels}, H, W), got shape {tuple(x.shape)}")
        if x.dtype != torch.uint8 and not x.is_floating_point():
            raise ValueError(f"expected uint8 (0..255) or float (0..1) images, got dtype {x.dtype}")
        if x.shape[2] < 1 or x.shape[3] < 1:
            raise ValueError(f"images must be at least 1x1, got shape {tuple(x.shape)}")

    def _gray(self, x: torch.Tensor) -> torch.Tensor:
        """(N, 3, H, W) -> (N, 1, H, W) luma, in a scratch buffer."""
        r, g, b = x.unbind(1)
        out = torch.mul(r, _GRAY[0], out=self._ws("gray", r.shape, x.device))
        return out.add_(g, alpha=_GRAY[1]).add_(b, alpha=_GRAY[2]).unsqueeze(1)

    def _crop_box(self, u: torch.Tensor, flip: torch.Tensor, h_in: int, w_in: int):
        """Per-sample crop boxes as (sx, tx, sy, ty), each (N,), in grid_sample's [-1, 1] coordinates.

        The box maps output coordinate o to input coordinate sx * o + tx (and likewise for y): the
        affine matrix theta = [[sx, 0, tx], [0, sy, ty]] of ``F.affine_grid``.
        u: (N, 2 * tries + 2) uniforms: scales, log-ratios, then the box position (x, y).
        """
        t = _CROP_TRIES
        (s_lo, s_hi), (r_lo, r_hi) = self.crop_scale, self.crop_ratio
        area = (s_lo + (s_hi - s_lo) * u[:, :t]) * (h_in * w_in)
        ratio = torch.exp(math.log(r_lo) + (math.log(r_hi) - math.log(r_lo)) * u[:, t:2 * t])
        w, h = torch.sqrt(area * ratio), torch.sqrt(area / ratio)
        fits = (w <= w_in) & (h <= h_in)
        first = fits.to(torch.uint8).argmax(1, keepdim=True)  # first box that fits (0 if none)
        any_fit = fits.any(1)
        # torchvision's fallback when no try fits: the whole image, aspect ratio clamped to the range.
        in_ratio = w_in / h_in
        if in_ratio < r_lo:
            w_fb, h_fb = w_in, w_in / r_lo
        elif in_ratio > r_hi:
            w_fb, h_fb = h_in * r_hi, h_in
        else:
            w_fb, h_fb = w_in, h_in
        w = torch.where(any_fit, w.gather(1, first).squeeze(1), w_fb)
        h = torch.where(any_fit, h.gather(1, first).squeeze(1), h_fb)
        x0 = u[:, 2 * t] * (w_in - w)
        y0 = u[:, 2 * t + 1] * (h_in - h)
        # Box [x0, x0 + w] in pixels -> centre 2 (x0 + w/2) / W - 1 and half-extent w / W in [-1, 1]
        # (align_corners=False); a flip mirrors inside the box: negate the x scale.
        sx = torch.where(flip, -w / w_in, w / w_in)
        return sx, (2 * x0 + w) / w_in - 1, h / h_in, (2 * y0 + h) / h_in - 1

    def _grid(self, sx, tx, sy, ty) -> torch.Tensor:
        """Sampling grid (N, size, size, 2), identical to ``F.affine_grid(theta, ..., align_corners=False)``.

        Built from the separable box directly: affine_grid's batched matmul costs more than the
        whole rest of the crop on CPU.
        """
        n, s = sx.shape[0], self.size
        key = (str(sx.device), "grid")
        if key not in self._consts:  # (1, 2, s, s) pixel-centre coordinates (x, y) in [-1, 1]
            c = (torch.arange(s, device=sx.device, dtype=torch.float32) * 2 + 1) / s - 1
            self._consts[key] = torch.stack(torch.meshgrid(c, c, indexing="xy")).unsqueeze(0)
        scale = torch.stack((sx, sy), dim=1).view(n, 2, 1, 1)
        shift = torch.stack((tx, ty), dim=1).view(n, 2, 1, 1)
        # one fused pass, computed planar (2x faster than interleaved) and viewed as (N, s, s, 2)
        grid = self._ws("grid", (n, 2, s, s), sx.device)
        return torch.addcmul(shift, scale, self._consts[key], out=grid).permute(0, 2, 3, 1)

    def _hue(self, x: torch.Tensor, shift: torch.Tensor, consts: dict) -> torch.Tensor:
        """Rotate the HSV hue of (N, 3, H, W) in [0, 1] by ``shift`` (N,) turns, in place; S and V kept.

        With h in sixths of a turn, HSV -> RGB is channel = min + chroma * pure(h), where pure is
        the fully saturated colour of hue h: clamp(a * |h - c| + b, 0, 1) with (c, a, b) =
        (3, 1, -1), (2, -1, 2), (4, -1, 2) for R, G, B. So the shift needs no S/V round trip.
        Matches torchvision's adjust_hue to ~1e-6.
        """
        r, g, b = x.unbind(1)
        plane, dev = r.shape, x.device
        maxc = torch.maximum(r, g, out=self._ws("maxc", plane, dev))
        maxc = torch.maximum(maxc, b, out=maxc)
        minc = torch.minimum(r, g, out=self._ws("minc", plane, dev))
        minc = torch.minimum(minc, b, out=minc)
        chroma = torch.sub(maxc, minc, out=self._ws("chroma", plane, dev))
        # gray pixels: the numerators below are 0 there, and chroma 0 keeps them gray
        inv = torch.clamp(chroma, min=1e-12, out=self._ws("inv", plane, dev)).reciprocal_()
        # Hue in sixths of a turn, piecewise by which channel is the maximum (as torchvision's
        # _rgb2hsv). The branch is chosen with 0/1 float masks and lerp, exact at 0 and 1:
        # bool tensors and torch.where are ~10x slower than float arithmetic on CPU.
        is_r = torch.sub(r, maxc, out=self._ws("is_r", plane, dev)).sign_().add_(1.0)  # 1 where r is max
        is_g = torch.sub(g, maxc, out=self._ws("is_g", plane, dev)).sign_().add_(1.0)
        h6 = torch.sub(r, g, out=self._ws("h6", plane, dev)).mul_(inv).add_(4.0)  # blue is max
        tmp = torch.sub(b, r, out=self._ws("tmp", plane, dev)).mul_(inv).add_(2.0)  # green is max
        h6.lerp_(tmp, is_g)
        h6.lerp_(torch.sub(g, b, out=tmp).mul_(inv), is_r)  # red is max
        h6.add_(6.0 * shift.view(-1, 1, 1))
        h6.sub_(torch.mul(h6, 1.0 / 6.0, out=tmp).floor_().mul_(6.0))  # wrap to [0, 6)
        pure = torch.sub(h6.unsqueeze(1), consts["hue_c"], out=self._ws("pure", x.shape, dev))
        pure.abs_().mul_(consts["hue_a"]).add_(consts["hue_b"]).clamp_(0.0, 1.0)
        return torch.addcmul(minc.unsqueeze(1), chroma.unsqueeze(1), pure, out=x)

    def _jitter(self, x, brightness, contrast, saturation, hue, consts) -> torch.Tensor:
        """Colour jitter of (N, C, H, W) in [0, 1] with per-sample factors (N,) (None = skip), in place.

        Same maths as torchvision's adjust_brightness / _contrast / _saturation / _hue, in this
        fixed order, clamping to [0, 1] after each: brightness blends with black, contrast with
        the image's mean gray level, saturation with the grayscale image.
        """
        n = x.shape[0]
        if brightness is not None:
            x.mul_(brightness.view(n, 1, 1, 1)).clamp_(0.0, 1.0)
        if contrast is not None:
            f = contrast.view(n, 1, 1, 1)
            m = (self._gray(x) if x.shape[1] == 3 else x).mean(dim=(1, 2, 3), keepdim=True)
            x.mul_(f).add_(m * (1.0 - f)).clamp_(0.0, 1.0)
        if saturation is not None and x.shape[1] == 3:
            f = saturation.view(n, 1, 1, 1)
            g = self._gray(x).mul_(1.0 - f)  # before x changes
            x.mul_(f).add_(g).clamp_(0.0, 1.0)
        if hue is not None and x.shape[1] == 3:
            x = self._hue(x, hue, consts)
        return x

    def _blur(self, x: torch.Tensor, sigma: torch.Tensor, apply: torch.Tensor) -> torch.Tensor:
        """Separable Gaussian blur of (N, C, H, W) with per-sample sigma (N,), in place.

        Samples with apply=False get a delta kernel and are unchanged. Reflect padding, like
        torchvision's GaussianBlur (replicate for images smaller than the kernel radius + 1).
        """
        k = self.blur_kernel
        r = k // 2
        pos = torch.arange(k, device=x.device, dtype=torch.float32) - r
        w = torch.exp(-0.5 * (pos / sigma.view(-1, 1)) ** 2)
        w = w / w.sum(1, keepdim=True)
        delta = (pos == 0).to(torch.float32)
        n, c, hh, ww = x.shape
        w = torch.where(apply.view(-1, 1), w, delta).t().reshape(k, n, 1, 1, 1)  # tap j: (N, 1, 1, 1)
        mode = "reflect" if min(hh, ww) > r else "replicate"
        # Weighted sum of k shifted slices per axis: one fused op per tap, any batch size, and
        # faster on CPU than a grouped conv with N*C groups.
        xp = F.pad(x, (0, 0, r, r), mode=mode)  # rows
        tmp = torch.mul(xp[:, :, 0:hh], w[0], out=self._ws("blur", x.shape, x.device))
        for j in range(1, k):
            tmp.addcmul_(xp[:, :, j:j + hh], w[j])
        xp = F.pad(tmp, (r, r, 0, 0), mode=mode)  # columns, written back into x
        torch.mul(xp[..., 0:ww], w[0], out=x)
        for j in range(1, k):
            x.addcmul_(xp[..., j:j + ww], w[j])
        return x

    # ------------------------------------------------------------------ public
    @torch.no_grad()
    def __call__(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> torch.Tensor:
        """Augment a batch: uint8/float (N, C, H, W) -> normalised float32 (N, C, size, size), same device.

        Not thread-safe on CPU (scratch buffers are reused); use one instance per thread.
        """
        self._check_input(x)
        if generator is not None and not isinstance(generator, torch.Generator):
            raise ValueError(f"generator must be a torch.Generator or None, got {type(generator).__name__}")
        n, c, h_in, w_in = x.shape
        dev = x.device
        if n == 0:
            return torch.empty(0, c, self.size, self.size, device=dev)
        consts = self._const(dev)
        # All per-sample randomness in one call, fixed column layout:
        # [crop scales x T | crop log-ratios x T | crop x | crop y | flip | jitter apply |
        #  brightness | contrast | saturation | hue | gray | blur apply | blur sigma | solarize]
        t2 = 2 * _CROP_TRIES
        gen_dev = generator.device if generator is not None else dev
        u = torch.rand(n, t2 + 12, generator=generator, device=gen_dev)
        if gen_dev != dev:
            u = u.to(dev)
        if dev.type != "cpu":
            return self._augment(x, u, consts)
        # CPU: work through cache-sized chunks (every temporary stays in L2/L3; 2-3x faster for
        # 96x96 and up). The parameters were drawn for the whole batch above, so the result does
        # not depend on the chunking.
        per = max(1, _CPU_CHUNK_ELEMS // (c * max(self.size * self.size, h_in * w_in)))
        if per >= n:
            return self._augment(x, u, consts)
        result = torch.empty(n, c, self.size, self.size)
        for i in range(0, n, per):
            result[i:i + per] = self._augment(x[i:i + per], u[i:i + per], consts)
        return result

    def _augment(self, x: torch.Tensor, u: torch.Tensor, consts: dict) -> torch.Tensor:
        """The pipeline on (n, C, H, W) with its uniforms u (n, 2 * tries + 12) -> (n, C, size, size)."""
        n, c, h_in, w_in = x.shape
        dev = x.device
        t2 = 2 * _CROP_TRIES
        flip = u[:, t2 + 2] < self.flip_p

        # 1. crop + flip + resize: one affine sampling grid, one bilinear grid_sample.
        if x.dtype == torch.float32:
            xf = x
        else:  # uint8 or other floats -> float32 scratch; bilinear is linear, so scale 1/255 after
            xf = self._ws("input", x.shape, dev).copy_(x)
        grid = self._grid(*self._crop_box(u[:, :t2 + 2], flip, h_in, w_in))
        out = F.grid_sample(xf, grid, mode="bilinear", padding_mode="border", align_corners=False)
        if x.dtype == torch.uint8:
            out.mul_(1.0 / 255.0)
        out.clamp_(0.0, 1.0)

        # 2. colour jitter, with probability jitter_p; samples not jittered get identity factors.
        bs, cs, ss, hs = self.jitter
        if self.jitter_p > 0 and max(bs, cs, ss, hs) > 0:
            on = u[:, t2 + 3] < self.jitter_p

            def factor(col, strength):  # U(max(0, 1 - s), 1 + s), or 1 when not applied
                lo, hi = max(0.0, 1.0 - strength), 1.0 + strength
                return torch.where(on, lo + (hi - lo) * u[:, col], 1.0) if strength > 0 else None

            hue = torch.where(on, hs * (2.0 * u[:, t2 + 7] - 1.0), 0.0) if hs > 0 else None
            out = self._jitter(out, factor(t2 + 4, bs), factor(t2 + 5, cs), factor(t2 + 6, ss), hue, consts)

        # 3. random grayscale (3 channels only; the gray value is copied to all three).
        if self.gray_p > 0:
            on = (u[:, t2 + 8] < self.gray_p).to(torch.float32).view(n, 1, 1, 1)
            out.lerp_(self._gray(out).expand_as(out), on)  # lerp is exact at 0 and 1; where is slow on CPU

        # 4. Gaussian blur with per-sample sigma.
        if self.blur_p > 0:
            lo, hi = self.blur_sigma
            out = self._blur(out, lo + (hi - lo) * u[:, t2 + 10], u[:, t2 + 9] < self.blur_p)

        # 5. solarize: invert pixels >= 0.5, i.e. out += invert * (1 - 2 out).
        if self.solarize_p > 0:
            on = (u[:, t2 + 11] < self.solarize_p).to(torch.float32).view(n, 1, 1, 1)
            invert = torch.sub(out, 0.5, out=self._ws("solarize", out.shape, dev))
            invert.sign_().add_(1.0).clamp_(max=1.0).mul_(on)  # 1 where on and out >= 0.5, else 0
            out.add_(invert.mul_(out.mul(-2.0).add_(1.0)))

        return self._normalize_(out, consts)

    def _normalize_(self, out: torch.Tensor, consts: dict) -> torch.Tensor:
        if any(m != 0 for m in self.mean) or any(s != 1 for s in self.std):
            out.sub_(consts["mean"]).mul_(consts["inv_std"])
        return out

    @torch.no_grad()
    def normalize(self, x: torch.Tensor) -> torch.Tensor:
        """The evaluation transform, no randomness: uint8/float (N, C, H, W) -> float32 (N, C, size, size).

        Non-square images are centre-cropped to a square; images of another size are resized
        (bilinear, antialiased) to ``size``; then the per-channel normalisation is applied.
        """
        self._check_input(x)
        out = x.float().div_(255.0) if x.dtype == torch.uint8 else x.to(torch.float32, copy=True)
        h, w = out.shape[-2:]
        if h != w:
            side = min(h, w)
            top, left = (h - side) // 2, (w - side) // 2
            out = out[..., top:top + side, left:left + side]
        if out.shape[-1] != self.size:
            out = F.interpolate(out, size=(self.size, self.size), mode="bilinear",
                                align_corners=False, antialias=True)
        out = out.contiguous().clamp_(0.0, 1.0)  # out never aliases x (converted or copied above)
        return self._normalize_(out, self._const(out.device))

    def denormalize(self, x: torch.Tensor) -> torch.Tensor:
        """Undo the normalisation (for display): (N, C, H, W) -> values in [0, 1]."""
        consts = self._const(x.device)
        return (x / consts["inv_std"] + consts["mean"]).clamp(0.0, 1.0)

    def __repr__(self) -> str:
        b, c, s, h = self.jitter
        return (f"SimCLRAugment(size={self.size}, channels={self.channels}, crop_scale={self.crop_scale}, "
                f"crop_ratio=({self.crop_ratio[0]:.4g}, {self.crop_ratio[1]:.4g}), flip_p={self.flip_p}, "
                f"jitter=(brightness={b:g}, contrast={c:g}, saturation={s:g}, hue={h:g}), "
                f"jitter_p={self.jitter_p}, gray_p={self.gray_p}, blur_p={self.blur_p}, "
                f"blur_sigma={self.blur_sigma}, blur_kernel={self.blur_kernel}, "
                f"solarize_p={self.solarize_p}, mean={self.mean}, std={self.std})")


_SETTINGS = ("channels", "crop_scale", "crop_ratio", "flip_p", "jitter", "jitter_p", "gray_p", "blur_p",
             "blur_sigma", "solarize_p", "mean", "std", "strength")


def for_dataset(dataset, size: Optional[int] = None, *, root=None, **overrides) -> SimCLRAugment:
    """The augmentation for a dataset (a name, with ``root`` for an image folder, or a
    :class:`~sslkit.data.DataSpec`): its :func:`recipe` at its image size and channels, normalised
    with its statistics, any setting overridden.

        aug = for_dataset("cifar10")                       # 32x32 RGB, SimCLR CIFAR recipe
        aug = for_dataset("stl10", size=64, blur_p=0.0)
        aug = for_dataset("image-folder", root="photos")   # photos' size, channels and statistics

    Unknown dataset names or settings raise ValueError listing the valid ones.
    """
    spec = describe(dataset, root)
    for key in overrides:
        check_choice("augmentation setting", key, _SETTINGS)
    kw = {"channels": spec.channels, "mean": spec.mean, "std": spec.std, **recipe(spec)[1]}
    kw.update(overrides)
    if kw["channels"] != spec.channels and ("mean" not in overrides or "std" not in overrides):
        raise ValueError(f"channels={kw['channels']} differs from {spec.name!r}'s {spec.channels}: "
                         f"pass mean= and std= for {kw['channels']} channels too")
    return SimCLRAugment(spec.size if size is None else size, **kw)


def for_images(images: torch.Tensor, size: Optional[int] = None, **overrides) -> SimCLRAugment:
    """The augmentation for images in memory, uint8 (N, C, H, W) (a few photos, say): the recipe for their
    resolution (:data:`RESOLUTION_RECIPES`), their channels, normalised with their own statistics."""
    return for_dataset(describe_images(images), size, **overrides)


def supervised(dataset, size: Optional[int] = None, *, root=None) -> SimCLRAugment:
    """The supervised recipe for a dataset: random resized crop (scale 0.5-1) and flip, no colour
    changes; what supervised training, fine-tuning and continual learning train with."""
    return for_dataset(dataset, size, root=root, crop_scale=(0.5, 1.0), jitter_p=0.0, gray_p=0.0, blur_p=0.0,
                       solarize_p=0.0)


def asymmetric_pair(dataset, size: Optional[int] = None, **overrides) -> tuple[SimCLRAugment, SimCLRAugment]:
    """BYOL's two view recipes (Grill et al. 2020, Table 6): the first always blurred and never
    solarised, the second blurred with p 0.1 and solarised with p 0.2. Where the dataset's recipe has
    no blur (32 px and smaller, as SimCLR found for CIFAR) neither is blurred, as in solo-learn's CIFAR
    recipe; the solarisation asymmetry stays. ``overrides`` apply to both."""
    blur = recipe(dataset)[1]["blur_p"] > 0
    first = for_dataset(dataset, size, **{**overrides, "blur_p": 1.0 if blur else 0.0, "solarize_p": 0.0})
    second = for_dataset(dataset, size, **{**overrides, "blur_p": 0.1 if blur else 0.0, "solarize_p": 0.2})
    return first, second


class Views:
    """The augmented views of one batch that a method trains on, made by one batched call per group.

        views = Views([(aug, 1), (aug, 1)])               # two views, one call each (SimCLR)
        views = Views([(global_aug, 2), (local_aug, 6)])  # multi-crop: 2 global + 6 local views
        v = views(x, generator=g)                         # [ (N, C, s_i, s_i) float32 for each view ]

    A group ``(aug, k)`` augments k stacked copies of the batch in ONE call of ``aug`` (each copy draws
    its own parameters) and splits the result: k local crops cost one call. Groups run in order on
    the same generator, so the views repeat exactly for the same generator state.
    """

    def __init__(self, groups):
        groups = [tuple(g) for g in groups]
        if not groups or not all(len(g) == 2 and isinstance(g[0], SimCLRAugment) for g in groups):
            raise ValueError("views need a non-empty list of (SimCLRAugment, count) pairs")
        for _, k in groups:
            if isinstance(k, bool) or not isinstance(k, int) or k < 1:
                raise ValueError(f"a view count must be a positive integer, got {k!r}")
        if len({aug.channels for aug, _ in groups}) != 1:
            raise ValueError("all views must have the same number of channels")
        self.groups = groups

    def __len__(self) -> int:
        return sum(k for _, k in self.groups)

    @property
    def augments(self) -> list[SimCLRAugment]:
        """The augmentation of each view, in view order (length ``len(self)``)."""
        return [aug for aug, k in self.groups for _ in range(k)]

    @property
    def sizes(self) -> list[int]:
        """The side length of each view."""
        return [aug.size for aug in self.augments]

    @property
    def channels(self) -> int:
        return self.groups[0][0].channels

    @property
    def normalize(self):
        """The evaluation transform (no randomness) of the first view: what features are computed with."""
        return self.groups[0][0].normalize

    def __call__(self, x: torch.Tensor, generator: Optional[torch.Generator] = None) -> list[torch.Tensor]:
        out = []
        for aug, k in self.groups:
            if k == 1:
                out.append(aug(x, generator=generator))
            else:
                out.extend(aug(x.repeat(k, *(1,) * (x.dim() - 1)), generator=generator).chunk(k))
        return out

    def __repr__(self) -> str:
        return "Views(" + ", ".join(f"{k} x {aug!r}" for aug, k in self.groups) + ")"
