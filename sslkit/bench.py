"""Benchmarks that measure sslkit against a peer pipeline in the same run and print the ratio.

    from sslkit.bench import bench_augment, format_bench
    print(format_bench(bench_augment("fashion-mnist", n_images=2048, batch_size=256, threads=1)))

Command line: ``python -m sslkit bench augment --dataset cifar10``.

Timings are medians of several repeats with ``time.perf_counter``; the two pipelines alternate
within each repeat so that background load hits both alike. Nothing here asserts a speed: the
numbers depend on the machine, so tests never check them.
"""
from __future__ import annotations

import platform
import statistics
import time
from typing import Optional

import torch

__all__ = ["bench_augment", "format_bench", "torchvision_pipeline"]


def torchvision_pipeline(aug):
    """The per-image torchvision.transforms.v2 equivalent of a :class:`SimCLRAugment` (PIL in, tensor out).

    RandomResizedCrop -> RandomHorizontalFlip -> RandomApply(ColorJitter) -> RandomGrayscale ->
    RandomApply(GaussianBlur) -> RandomSolarize -> ToImage -> ToDtype(float32) -> Normalize,
    each step only when ``aug`` uses it, with the same parameters.
    """
    from torchvision.transforms import v2

    b, c, s, h = aug.jitter
    ops = [v2.RandomResizedCrop(aug.size, scale=aug.crop_scale, ratio=aug.crop_ratio, antialias=True)]
    if aug.flip_p > 0:
        ops.append(v2.RandomHorizontalFlip(aug.flip_p))
    if aug.jitter_p > 0 and max(b, c, s, h) > 0:
        ops.append(v2.RandomApply([v2.ColorJitter(b, c, s, h)], p=aug.jitter_p))
    if aug.gray_p > 0:
        ops.append(v2.RandomGrayscale(aug.gray_p))
    if aug.blur_p > 0:
        ops.append(v2.RandomApply([v2.GaussianBlur(aug.blur_kernel, aug.blur_sigma)], p=aug.blur_p))
    if aug.solarize_p > 0:  # on uint8 PIL images the threshold 0.5 of the [0, 1] scale is 128
        ops.append(v2.RandomSolarize(threshold=128, p=aug.solarize_p))
    ops += [v2.ToImage(), v2.ToDtype(torch.float32, scale=True), v2.Normalize(list(aug.mean), list(aug.std))]
    return v2.Compose(ops)


class _PerImage(torch.utils.data.Dataset):
    """What a torchvision dataset does: one uint8 array -> PIL image -> transform, per item."""

    def __init__(self, x: torch.Tensor, transform):
        a = x.permute(0, 2, 3, 1).numpy()  # (N, H, W, C)
        self.images = a[..., 0] if a.shape[-1] == 1 else a  # PIL wants (H, W) for grayscale
        self.transform = transform

    def __len__(self):
        return len(self.images)

    def __getitem__(self, i):
        from PIL import Image

        return self.transform(Image.fromarray(self.images[i]))


def _sync(device: torch.device) -> None:
    if device.type == "cuda":
        torch.cuda.synchronize(device)


def bench_augment(dataset: str = "fashion-mnist", n_images: int = 2048, batch_size: int = 256,
                  device: str = "cpu", threads: Optional[int] = None, seed: int = 0, *,
                  repeats: int = 3, root=None) -> dict:
    """Time sslkit's batched SimCLRAugment against torchvision's per-image pipeline on the same images.

    (a) sslkit: the first ``n_images`` training images as one uint8 tensor on ``device``,
        augmented ``batch_size`` at a time by ``for_dataset(dataset)`` with a seeded generator.
    (b) torchvision: the same images and the same operations and parameters
        (:func:`torchvision_pipeline`), one PIL image at a time through a Dataset and a
        DataLoader(batch_size, num_workers=0), batches moved to ``device``; this peer always runs
        on the CPU, as a DataLoader pipeline does.
    Both are warmed up on two batches, then timed ``repeats`` times, alternating; the median wall
    time of each gives images/s. ``threads`` sets torch's intra-op threads for the run (restored
    after); None keeps the current setting.

    Returns a dict with ``sslkit_images_per_s``, ``torchvision_images_per_s``, ``ratio``
    (sslkit / torchvision), the raw times and the settings. ``format_bench`` prints it.
    """
    from sslkit import data
    from sslkit.augment import for_dataset
    from sslkit.config import check_positive

    check_positive("n_images", n_images)
    check_positive("batch_size", batch_size)
    check_positive("repeats", repeats)
    if threads is not None:
        check_positive("threads", threads)
    dev = torch.device(device)
    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        x, _ = data.load(dataset, "train", root=root)
        x = x[:n_images].contiguous()
        n = len(x)
        aug = for_dataset(dataset)
        tv = torchvision_pipeline(aug)
        loader = torch.utils.data.DataLoader(_PerImage(x, tv), batch_size=batch_size, shuffle=False,
                                             num_workers=0)
        x_dev = x.to(dev)
        gen = torch.Generator(device=dev).manual_seed(seed)
        torch.manual_seed(seed)  # torchvision draws from the global RNG

        def run_sslkit(limit=n):
            for i in range(0, limit, batch_size):
                aug(x_dev[i:min(i + batch_size, limit)], generator=gen)
            _sync(dev)

        def run_torchvision(limit=n):
            for k, xb in enumerate(loader):
                xb.to(dev)
                if (k + 1) * batch_size >= limit:
                    break
            _sync(dev)

        warm = min(n, 2 * batch_size)
        run_sslkit(warm)
        run_torchvision(warm)
        t_ssl, t_tv = [], []
        for _ in range(repeats):
            for run, times in ((run_sslkit, t_ssl), (run_torchvision, t_tv)):
                t0 = time.perf_counter()
                run()
                times.append(time.perf_counter() - t0)
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)

    ssl_ips = n / statistics.median(t_ssl)
    tv_ips = n / statistics.median(t_tv)
    import torchvision

    return {
        "dataset": dataset, "n_images": n, "image_shape": tuple(x.shape[1:]), "batch_size": batch_size,
        "device": str(dev), "threads": used_threads, "seed": seed, "repeats": repeats,
        "sslkit_images_per_s": ssl_ips, "torchvision_images_per_s": tv_ips, "ratio": ssl_ips / tv_ips,
        "sslkit_seconds": t_ssl, "torchvision_seconds": t_tv,
        "augment": repr(aug), "torchvision_pipeline": repr(tv),
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "cpu": platform.processor() or platform.machine(),
    }


def format_bench(result: dict) -> str:
    """A few readable lines for a :func:`bench_augment` result."""
    r = result
    shape = "x".join(map(str, r["image_shape"]))
    return "\n".join([
        f"augmentation benchmark: {r['dataset']}, {r['n_images']} images ({shape} uint8), batches of "
        f"{r['batch_size']}, device {r['device']}, {r['threads']} CPU thread(s), median of {r['repeats']}",
        f"  sslkit SimCLRAugment, batched on {r['device']:<5}  {r['sslkit_images_per_s']:>12,.0f} images/s",
        f"  torchvision v2, per image (PIL, DataLoader)  {r['torchvision_images_per_s']:>12,.0f} images/s",
        f"  ratio sslkit / torchvision                   {r['ratio']:>12.1f}x",
        f"  ({r['augment']})",
    ])
