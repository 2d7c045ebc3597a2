"""Benchmarks that measure sslkit against a peer pipeline in the same run and print the ratio.

    from sslkit.tools.bench import bench_augment, format_bench
    print(format_bench(bench_augment("fashion-mnist", n_images=2048, batch_size=256, threads=1)))

    from sslkit.tools.bench import bench_train
    print(format_bench(bench_train("fashion-mnist", device="cpu", steps=20, workers=1, threads=1)))

Command line: ``python -m sslkit bench augment --dataset cifar10`` and
``python -m sslkit bench train --device cuda --dataset cifar10 --backbone resnet18``.

Timings use ``time.perf_counter`` (after ``torch.cuda.synchronize`` on CUDA); the two pipelines
alternate so that background load hits both alike. Nothing here asserts a speed: the numbers
depend on the machine, so tests never check them.
"""
from __future__ import annotations

import itertools
import math
import platform
import statistics
import time
from typing import Optional

import torch

from sslkit import data, train
from sslkit.augment import for_dataset
from sslkit.checks import check_positive, resolve_device
from sslkit.config import resolve
from sslkit.data import DeviceLoader
from sslkit.tools.results import cpu_name

__all__ = ["bench_augment", "bench_folder", "bench_train", "count_flops", "format_bench", "format_bench_train",
           "peak_tflops", "torchvision_pipeline"]


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


def bench_folder(data_dir, steps: int = 30, batch_size: int = 256, width: int = 32, rounds: int = 3,
                 image_size=None, seed: int = 0) -> dict:
    """Pretraining steps on an image folder against the embedded Fashion-MNIST, same model and batch.

    Both runs are :func:`sslkit.train.pretrain` in the ``quick`` profile (SimCLR, ConvNet ``width``) for
    ``steps`` steps of ``batch_size`` images (Fashion-MNIST on as many images as the folder holds),
    ``rounds`` times each, alternating; the median seconds of the training loop (the sum of its epoch
    times) give steps/s. The folder's first read (decoding
    every file) is timed apart. For a folder of 28 px grayscale images the two step rates should
    match: the folder's images are the same tensors once read.
    """
    from sslkit.data import describe

    for what, value in (("steps", steps), ("batch_size", batch_size), ("rounds", rounds)):
        check_positive(what, value)
    t0 = time.perf_counter()
    spec = describe("image-folder", data_dir, image_size)  # reads (and caches) the folder
    read_s = time.perf_counter() - t0

    n_images = len(data.load("image-folder", data.pretraining_split("image-folder", data_dir), data_dir,
                             size=image_size)[0])

    def loop_seconds(dataset: str) -> float:
        folder = dataset == "image-folder"
        cfg = resolve("quick", dataset=dataset, data_dir=str(data_dir) if folder else None,
                      image_size=image_size if folder else None, width=width, batch_size=batch_size,
                      max_steps=steps, seed=seed, device="cpu", train_subset=None if folder else min(n_images, 60000))
        history = train.pretrain(cfg, progress=False)["history"]
        return sum(e["seconds"] for e in history["epochs"])

    seconds = {"image-folder": [], "fashion-mnist": []}
    for _ in range(rounds):
        for name in seconds:
            seconds[name].append(loop_seconds(name))
    rate = {name: steps / statistics.median(s) for name, s in seconds.items()}
    return {"data_dir": str(data_dir), "spec": spec.summary(), "read_seconds": read_s, "steps": steps,
            "batch_size": batch_size, "width": width, "rounds": rounds, "folder_steps_per_s": rate["image-folder"],
            "embedded_steps_per_s": rate["fashion-mnist"], "ratio": rate["image-folder"] / rate["fashion-mnist"],
            "seconds": seconds, "threads": torch.get_num_threads(), "cpu": cpu_name()}


def format_bench(result: dict) -> str:
    """A few readable lines for a :func:`bench_augment`, :func:`bench_train` or :func:`bench_folder` result."""
    if "reference_images_per_s" in result:
        return format_bench_train(result)
    if "folder_steps_per_s" in result:
        r = result
        return "\n".join([
            f"image-folder benchmark: SimCLR, ConvNet width {r['width']}, batch {r['batch_size']}, {r['steps']} steps "
            f"per run, median of {r['rounds']}, {r['threads']} CPU thread(s) ({r['cpu']})",
            f"  the folder: {r['spec']} (first read: {r['read_seconds']:.1f} s)",
            f"  image folder {r['data_dir']:<30} {r['folder_steps_per_s']:8.2f} steps/s",
            f"  embedded fashion-mnist {'':22} {r['embedded_steps_per_s']:8.2f} steps/s",
            f"  ratio folder / embedded {'':21} {r['ratio']:8.2f}x",
        ])
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


# ------------------------------------------------------------------------------ training steps

# Dense bf16 matrix rate that a large matmul reaches (TFLOP/s), by substring of the CUDA device name:
# H200 and H100 SXM (the same chip) 790, from an 8192^3 bf16 torch.matmul timed on an H200; A100 312,
# the datasheet's dense bf16. Devices not listed (and CPUs) print 'n/a'.
PEAK_BF16_TFLOPS = {"H200": 790.0, "H100": 790.0, "A100": 312.0}


def peak_tflops(device) -> Optional[float]:
    """The bf16 dense peak of ``device`` from :data:`PEAK_BF16_TFLOPS`, or None (CPU, unknown GPU)."""
    device = torch.device(device)
    if device.type != "cuda":
        return None
    name = torch.cuda.get_device_name(device)
    for key, tflops in PEAK_BF16_TFLOPS.items():
        if key.lower() in name.lower():
            return tflops
    return None


def _device_name(device: torch.device) -> str:
    """The GPU's name, or the CPU's model name from /proc/cpuinfo (else the platform's)."""
    return torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()


class _Views(_PerImage):
    """A conventional SSL dataset: each item is the views of one PIL image, each made by its own transform."""

    def __init__(self, x: torch.Tensor, transforms):
        super().__init__(x, None)
        self.transforms = transforms

    def __getitem__(self, i):
        from PIL import Image

        img = Image.fromarray(self.images[i])
        return tuple(t(img) for t in self.transforms)


def count_flops(views_loss, model, batch_size: int, channels: int, sizes) -> int:
    """FLOPs of one forward + backward of ``views_loss(views, None)`` on views of ``batch_size`` images
    with side lengths ``sizes`` (``torch.utils.flop_counter.FlopCounterMode``: matmuls and
    convolutions, 2 per MAC).

    Runs on the meta device when ``model`` lives there (shapes only, no arithmetic), else for real.
    """
    from torch.utils.flop_counter import FlopCounterMode

    dev = next(model.parameters()).device
    views = [torch.zeros(batch_size, channels, s, s, device=dev) for s in sizes]
    with FlopCounterMode(display=False) as counter:
        views_loss(views, None).backward()
    model.zero_grad(set_to_none=True)
    return int(counter.get_total_flops())


def _blocks(steps: int, rounds: int) -> list[int]:
    rounds = min(rounds, steps)
    return [steps // rounds + (1 if i < steps % rounds else 0) for i in range(rounds)]


def bench_train(dataset: str = "fashion-mnist", backbone: Optional[str] = None, device: str = "cpu",
                steps: int = 20, batch_size: int = 256, workers: int = 2, threads: Optional[int] = None,
                seed: int = 0, *, width: Optional[int] = None, profile: Optional[str] = None,
                compile: bool = False, warmup: int = 2, rounds: int = 2, root=None, method: str = "simclr") -> dict:
    """Time training steps of ``method`` (SimCLR by default) in sslkit's pipeline against a
    conventional one, in the same run.

    (a) sslkit: the training images as uint8 on ``device`` (:class:`sslkit.data.DeviceLoader`), two
        views per batch by the batched :class:`SimCLRAugment` on the device, then the step of
        :func:`sslkit.train.pretrain` (bf16 autocast + channels_last on CUDA, as the config says).
    (b) reference, as the public SSL libraries do it: a torch ``Dataset`` that returns two views of
        each PIL image made by torchvision v2 per image (:func:`torchvision_pipeline`, the same
        operations and parameters), a ``DataLoader`` with ``workers`` worker processes (pinned
        memory on CUDA), feeding a fresh copy of the same model (same initial weights), loss,
        optimiser and step.

    The model and optimiser come from ``profile`` (default: ``quick`` on the CPU, ``full`` on CUDA;
    in ``full`` with the method's recipe) with ``dataset``, ``backbone``, ``width``, ``batch_size``,
    ``seed`` and ``compile`` overriding it.
    Each pipeline first runs ``warmup`` untimed steps; then ``steps`` timed steps each, in ``rounds``
    blocks that alternate (sslkit, reference | reference, sslkit | ...). Every block starts with one
    untimed step, so the reference is timed with its workers already running but without a queue
    of batches prefetched while the other pipeline was being timed. ``threads`` sets torch's
    intra-op threads of this process for the run (restored after; DataLoader workers use 1).

    FLOPs: one forward + backward of the model on two views of a batch, counted by
    ``FlopCounterMode`` (on the meta device); TFLOP/s = FLOPs per step / seconds per step, and the
    share of :func:`peak_tflops` where the device is known. Images/s counts source images (each
    gives two views); seconds per epoch = steps per epoch of the training split / steps per second.

    Returns a dict with ``sslkit_images_per_s``, ``reference_images_per_s``, ``ratio``
    (sslkit / reference), seconds per epoch, TFLOP/s, the raw block times and every setting;
    :func:`format_bench` prints it.
    """
    from torch.utils.data import DataLoader

    check_positive("steps", steps)
    check_positive("batch_size", batch_size)
    check_positive("workers", workers, allow_zero=True)
    check_positive("warmup", warmup, allow_zero=True)
    check_positive("rounds", rounds)
    if threads is not None:
        check_positive("threads", threads)
    dev = resolve_device(str(device))
    cfg = resolve(profile or ("full" if dev.type == "cuda" else "quick"), method=method, dataset=dataset,
                  backbone=backbone, width=width, batch_size=batch_size, device=str(dev), seed=seed, compile=compile)

    old_threads = torch.get_num_threads()
    if threads is not None:
        torch.set_num_threads(threads)
    try:
        x, _ = data.load(cfg.dataset, "train", root=root)
        if cfg.batch_size > len(x):
            raise ValueError(f"batch_size={cfg.batch_size} is larger than the {len(x)} training images")
        n_train, (channels, height, _w) = len(x), tuple(x.shape[1:])

        # (a) sslkit
        model_s = train.build_model(cfg, dev)
        views = model_s.views(cfg.dataset)
        loader = DeviceLoader(x, None, batch_size=cfg.batch_size, device=dev, shuffle=True, drop_last=True,
                              seed=cfg.seed)
        steps_per_epoch = len(loader)
        total = cfg.epochs * steps_per_epoch
        warm_steps = int(cfg.warmup_epochs * steps_per_epoch)
        opt_s = train.build_optimizer(model_s, cfg)
        loss_s = train.views_loss_fn(model_s, cfg, dev, train.compile_model(model_s, cfg))
        device_batches = itertools.chain.from_iterable(loader.epoch(e) for e in itertools.count())

        # (b) reference: same model (fresh copy, same initial weights), per-image torchvision views
        model_r = train.build_model(cfg, dev)
        opt_r = train.build_optimizer(model_r, cfg)
        loss_r = train.views_loss_fn(model_r, cfg, dev, train.compile_model(model_r, cfg))
        tv = [torchvision_pipeline(aug) for aug in views.augments]
        ref_loader = DataLoader(_Views(x, tv), batch_size=cfg.batch_size, shuffle=True, drop_last=True,
                                num_workers=workers, pin_memory=dev.type == "cuda",
                                generator=torch.Generator().manual_seed(cfg.seed))

        # FLOPs of one step's forward + backward, counted on a meta-device copy (no arithmetic)
        meta = train.build_model(cfg, "meta")
        flops = count_flops(train.views_loss_fn(meta, cfg, torch.device("meta")), meta, cfg.batch_size, channels,
                            views.sizes)
        del meta

        counters = {"sslkit": 0, "reference": 0}

        def set_lr(opt, step):
            lr = train.lr_at(step, total, warm_steps, cfg.lr)
            for group in opt.param_groups:
                group["lr"] = lr

        def sslkit_step(_batch=None):
            step = counters["sslkit"]
            xb, _ = next(device_batches)
            g = train.step_generator(cfg.seed, step, dev)
            set_lr(opt_s, step)
            loss = loss_s(views(xb, generator=g), g)
            train.optimizer_step(model_s, opt_s, loss, step, total)
            counters["sslkit"] += 1
            return loss.detach()

        def reference_step(batch):
            step = counters["reference"]
            g = train.step_generator(cfg.seed, step, dev)
            set_lr(opt_r, step)
            loss = loss_r([v.to(dev, non_blocking=True) for v in batch], g)
            train.optimizer_step(model_r, opt_r, loss, step, total)
            counters["reference"] += 1
            return loss.detach()

        def run_block(name, n_timed):
            """One untimed step, then ``n_timed`` timed ones; returns (seconds, last loss)."""
            it = iter(ref_loader) if name == "reference" else None
            step_fn = reference_step if name == "reference" else sslkit_step
            try:
                loss = step_fn(next(it) if it is not None else None)
                _sync(dev)
                t0 = time.perf_counter()
                for _ in range(n_timed):
                    loss = step_fn(next(it) if it is not None else None)
                _sync(dev)
                return time.perf_counter() - t0, loss
            finally:  # end this iterator's workers now (not at garbage collection): none may run on
                # while the other pipeline is timed; a worker finishes the batch it is on, untimed
                if it is not None and hasattr(it, "_shutdown_workers"):
                    it._shutdown_workers()
                del it

        need = max(_blocks(steps, rounds)) + 1
        if len(ref_loader) < max(need, warmup):
            raise ValueError(f"the training split gives {len(ref_loader)} batches of {cfg.batch_size}; one block "
                             f"({need} steps) and the warm-up ({warmup}) must fit in one epoch: use fewer --steps "
                             f"per round or a smaller batch")
        for name in ("sslkit", "reference"):  # compile, allocator, kernel caches, worker start-up
            if warmup:
                run_block(name, warmup - 1)
        times = {"sslkit": [], "reference": []}
        losses = {}
        for i, n_timed in enumerate(_blocks(steps, rounds)):
            order = ("sslkit", "reference") if i % 2 == 0 else ("reference", "sslkit")
            for name in order:
                seconds, losses[name] = run_block(name, n_timed)
                times[name].append(seconds)
        final_loss = {k: float(v) for k, v in losses.items()}  # the only read-back of a loss
        used_threads = torch.get_num_threads()
    finally:
        torch.set_num_threads(old_threads)

    import torchvision

    n_timed_steps = sum(_blocks(steps, rounds))
    peak = peak_tflops(dev)
    out = {
        "dataset": cfg.dataset, "image_shape": (channels, height, _w), "train_images": n_train,
        "method": cfg.method, "backbone": cfg.backbone, "width": cfg.width if cfg.backbone == "convnet" else None,
        "profile": cfg.profile, "optimizer": cfg.optimizer, "batch_size": cfg.batch_size,
        "steps_per_epoch": steps_per_epoch, "device": str(dev), "device_name": _device_name(dev),
        "threads": used_threads, "workers": workers, "seed": cfg.seed, "steps": n_timed_steps,
        "warmup": warmup, "rounds": len(_blocks(steps, rounds)), "compile": cfg.compile,
        "amp_bf16": cfg.amp and dev.type == "cuda", "channels_last": cfg.channels_last,
        "flops_per_step": flops, "flops_per_image": flops / cfg.batch_size, "peak_tflops": peak,
        "final_loss": final_loss, "augment": repr(views), "torchvision_pipeline": repr(tv),
        "torch": torch.__version__, "torchvision": torchvision.__version__,
        "cuda": torch.version.cuda if dev.type == "cuda" else None,
    }
    for name in ("sslkit", "reference"):
        seconds = sum(times[name])
        per_step = seconds / n_timed_steps
        tflops = flops / per_step / 1e12
        out[f"{name}_seconds"] = times[name]
        out[f"{name}_images_per_s"] = cfg.batch_size / per_step
        out[f"{name}_seconds_per_epoch"] = steps_per_epoch * per_step
        out[f"{name}_tflops"] = tflops
        out[f"{name}_peak_fraction"] = tflops / peak if peak else None
        out[f"{name}_loss_finite"] = math.isfinite(final_loss[name])
    out["ratio"] = out["sslkit_images_per_s"] / out["reference_images_per_s"]
    return out


def format_bench_train(result: dict) -> str:
    """A small table for a :func:`bench_train` result."""
    r = result
    shape = "x".join(map(str, r["image_shape"]))
    model = r["backbone"] + (f" width {r['width']}" if r.get("width") else "")
    peak = f"{r['peak_tflops']:.0f} TFLOP/s bf16 dense" if r["peak_tflops"] else "n/a"
    opts = ", ".join(o for o, on in (("bf16 autocast", r["amp_bf16"]), ("channels_last", r["channels_last"]),
                                     ("torch.compile", r["compile"])) if on) or "fp32"

    def pct(v):
        return f"{100 * v:9.1f}%" if v is not None else "       n/a"

    lines = [
        f"training-step benchmark: {r['method']} {model} on {r['dataset']} ({shape}), batch {r['batch_size']} "
        f"(x2 views), {r['optimizer']}, {opts}",
        f"  device {r['device']} ({r['device_name']}), {r['threads']} CPU thread(s), reference DataLoader with "
        f"{r['workers']} worker(s); peak {peak}",
        f"  {r['steps']} timed steps per pipeline in {r['rounds']} alternating block(s) after {r['warmup']} warm-up "
        f"step(s); model {r['flops_per_step'] / 1e9:,.1f} GFLOP per step ({r['flops_per_image'] / 1e9:.2f} per image, "
        f"FlopCounterMode, forward + backward)",
        f"  {'':40} {'images/s':>10} {'s/epoch':>9} {'TFLOP/s':>9} {'of peak':>10}",
    ]
    for name, label in (("sslkit", "sslkit: device uint8 + batched augment"),
                        ("reference", "reference: torchvision v2 per image")):
        lines.append(f"  {label:40} {r[f'{name}_images_per_s']:>10,.1f} {r[f'{name}_seconds_per_epoch']:>9,.1f} "
                     f"{r[f'{name}_tflops']:>9.3g} {pct(r[f'{name}_peak_fraction'])}")
    lines.append(f"  ratio sslkit / reference {r['ratio']:>25.2f}x   (epoch = {r['steps_per_epoch']} steps of "
                 f"{r['train_images']:,} training images)")
    bad = [k for k in ("sslkit", "reference") if not r[f"{k}_loss_finite"]]
    if bad:
        lines.append(f"  warning: non-finite loss in {', '.join(bad)} (timings still valid)")
    return "\n".join(lines)
