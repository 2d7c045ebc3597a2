"""Datasets as uint8 tensors, label subsets, and device-resident batching.

Every dataset comes back the same way: images as a contiguous uint8 CPU tensor (N, C, H, W)
and labels as int64 (N,). Augmentation and the model take it from there.

    from sslkit import data
    x, y = data.load("fashion-mnist", "train")         # (60000, 1, 28, 28) uint8, embedded in data/
    x, y = data.load("cifar10", "test")                # cache, folder, tarball, torchvision batches, download
    x, y = data.load("image-folder", "train", root="my_photos", size=64)   # my_photos/train/<class>/*.jpg
    spec = data.describe("image-folder", root="my_photos")   # size, channels, mean/std of YOUR images
    data.class_names("cifar10")                        # ['airplane', 'automobile', ...]
    data.info("stl10")                                 # shape, splits, and how to obtain it

    tr, va = data.train_val_split(y, val_fraction=0.1, seed=0)   # stratified index tensors
    few = data.k_per_class(y[tr], k=10)                # 10 labelled examples per class (indices into y[tr])
    sub = data.label_fraction(y[tr], 0.01)             # 1 % of the labels, stratified

    loader = data.DeviceLoader(x, y, batch_size=512, device="cuda", seed=0)
    for epoch in range(epochs):
        for xb, yb in loader.epoch(epoch):             # same order for (seed, epoch) in every run
            ...
    # resume mid-epoch after `step` batches: loader.epoch(epoch, start=step)

Where data is looked for: the `root` argument first, then DATA_DIR (the repo's data/, or
$SSLKIT_DATA), then the places listed by `info(name)["obtain"]`. Decoded and downloaded
data goes to DATA_DIR/cache, which git ignores. When nothing is found, DatasetNotFoundError
says every way to get the data; nothing ever waits on the network for more than seconds.
"""
from __future__ import annotations

import dataclasses
import gzip
import os
import socket
import tarfile
import threading
import warnings
from pathlib import Path, PurePosixPath

import numpy as np
import torch

from sslkit import image_folder
from sslkit.checks import check_choice, check_fraction, check_positive
from sslkit.paths import REPO_DIR

# -----------------------------------------------------------------------------
# where data lives (plain module values: tests and users may reassign them)

DATA_DIR = Path(os.environ["SSLKIT_DATA"]).expanduser() if os.environ.get("SSLKIT_DATA") else REPO_DIR / "data"
SYSTEM_FASHION_MNIST = Path("/usr/share/datasets/fashion-mnist")  # Debian package dataset-fashion-mnist

DATASETS = ("fashion-mnist", "cifar10", "stl10", "digits", "image-folder")
CIFAR10_TARBALL = "cifar10-jpeg.tar.gz"
IMAGE_EXTS = image_folder.IMAGE_EXTS
NET_TIMEOUT = 10  # seconds per socket operation while downloading

FASHION_MNIST_CLASSES = ["T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
                         "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot"]
CIFAR10_CLASSES = ["airplane", "automobile", "bird", "cat", "deer",
                   "dog", "frog", "horse", "ship", "truck"]
STL10_CLASSES = ["airplane", "bird", "car", "cat", "deer", "dog", "horse", "monkey", "ship", "truck"]
FASHION_MNIST_FILES = {"train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
                       "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz")}


class DatasetNotFoundError(FileNotFoundError):
    """The dataset is not on disk and could not be downloaded; the message says how to get it."""


def cache_dir() -> Path:
    """Decoded / downloaded data: DATA_DIR/cache (read at call time, so reassigning DATA_DIR moves it)."""
    return Path(DATA_DIR) / "cache"


def _obtain(name: str) -> list[str]:
    """Every way to get dataset `name`, as lines for info() and for error messages."""
    data, cache = Path(DATA_DIR), cache_dir()
    if name == "fashion-mnist":
        return [f"embedded: the four IDX .gz files in {data / 'fashion-mnist'} (part of the git repository)",
                f"Debian/Ubuntu: `apt-get install dataset-fashion-mnist` puts them in {SYSTEM_FASHION_MNIST}",
                "any folder holding the four files: load(..., root=<folder>)",
                f"internet: load(..., download=True) downloads them with torchvision into {cache}"]
    if name == "cifar10":
        return [f"internet: load('cifar10', download=True) downloads it with torchvision (170 MB) into {cache}",
                f"the JPEG tarball {CIFAR10_TARBALL}: put it in {data} or {cache}, or pass root=<its folder or "
                f"the file>; it is decoded once into {cache}",
                f"an ImageFolder tree <root>/train/<class>/*.jpg|png and <root>/test/<class>/...: pass root=<root> "
                f"or put it at {data / 'cifar10'}",
                f"torchvision's python batches: <root>/cifar-10-batches-py (root=<root>, or {cache})"]
    if name == "stl10":
        return [f"internet: load('stl10', download=True) downloads it with torchvision (2.6 GB) into {cache}",
                f"torchvision's files: <root>/stl10_binary/*.bin (root=<root>, or {cache})",
                "or export it as an ImageFolder tree and use load('image-folder', root=...)"]
    if name == "digits":
        return ["bundled with scikit-learn (`pip install scikit-learn`); nothing to download"]
    return ["your own images: <root>/train/<class>/*.png|jpg (or unlabelled: <root>/train/*.jpg, "
            "<root>/unlabelled/), load('image-folder', split, root=<root>); see sslkit.image_folder"]


_INFO = {
    "fashion-mnist": dict(channels=1, size=(28, 28), num_classes=10, splits=("train", "test"),
                          num_images={"train": 60000, "test": 10000},
                          description="Zalando article images, 28x28 grayscale, 10 classes (MIT licence)"),
    "cifar10": dict(channels=3, size=(32, 32), num_classes=10, splits=("train", "test"),
                    num_images={"train": 50000, "test": 10000},
                    description="CIFAR-10, 32x32 colour photos, 10 classes"),
    "stl10": dict(channels=3, size=(96, 96), num_classes=10, splits=("train", "test", "unlabeled", "train+unlabeled"),
                  num_images={"train": 5000, "test": 8000, "unlabeled": 100000, "train+unlabeled": 105000},
                  description="STL-10, 96x96 colour photos, 10 classes plus 100k unlabelled (label -1)"),
    "digits": dict(channels=1, size=(8, 8), num_classes=10, splits=("train", "test"),
                   num_images={"train": 1437, "test": 360},
                   description="scikit-learn handwritten digits, 8x8, values 0..16 scaled to 0..255"),
    "image-folder": dict(channels=None, size=None, num_classes=None, splits=None, num_images=None,
                         description="your images in <root>/<split>/<class>/*.png|jpg|..., or unlabelled in "
                                     "<root>/train/ or <root>/unlabelled/; grayscale folders load as one channel; "
                                     "all one size unless size= is given (describe() reads them)"),
}

# Per-dataset channel statistics of the training images on the [0, 1] scale: (mean, std). An image
# folder's are computed from its own images (describe).
STATS: dict[str, tuple[tuple[float, ...], tuple[float, ...]]] = {
    "fashion-mnist": ((0.2860,), (0.3530,)),                                 # 60k train images
    "cifar10": ((0.4914, 0.4822, 0.4465), (0.2470, 0.2435, 0.2616)),        # 50k train images
    "stl10": ((0.4467, 0.4398, 0.4066), (0.2603, 0.2566, 0.2713)),          # train split, as commonly cited
    "digits": ((0.3046,), (0.3760,)),                                        # the digits train split here
}
STATS_SAMPLE = 2000  # images an image folder's statistics are computed from


@dataclasses.dataclass(frozen=True)
class DataSpec:
    """What augmentation, models and evaluation need to know about a dataset's images.

    ``size``: the side of the square views (the images' own size, or their smaller side); ``channels``:
    1 or 3; ``mean``, ``std``: per-channel statistics on the [0, 1] scale and ``stats`` where they come
    from; ``num_classes``: None for unlabelled images; ``root`` and ``image_size``: where and at which
    size an image folder is read.
    """

    name: str
    size: int
    channels: int
    mean: tuple
    std: tuple
    num_classes: int | None
    stats: str
    root: str | None = None
    image_size: tuple | None = None

    def summary(self) -> str:
        where = f" {self.root}" if self.root else ""
        labels = f"{self.num_classes} classes" if self.num_classes else "no labels"
        kind = "grayscale" if self.channels == 1 else "RGB"
        return (f"{self.name}{where}: {self.size}x{self.size} {kind} images, {labels}; normalised with the "
                f"statistics of {self.stats} (mean {', '.join(f'{m:.3f}' for m in self.mean)}, "
                f"std {', '.join(f'{v:.3f}' for v in self.std)})")


def describe(name, root=None, size=None) -> DataSpec:
    """The :class:`DataSpec` of a dataset (a DataSpec passes through). For an image folder it reads the
    pretraining split (cached) and computes the channel statistics from up to ``STATS_SAMPLE`` images."""
    if isinstance(name, DataSpec):
        return name
    check_choice("dataset", name, DATASETS)
    size = _check_size(size)
    if name != "image-folder":
        h, w = size or _INFO[name]["size"]
        mean, std = STATS[name]
        return DataSpec(name, min(h, w), _INFO[name]["channels"], mean, std, _INFO[name]["num_classes"],
                        f"{name}'s training images", image_size=size)
    folder = _folder_root(root)
    x, _ = image_folder.load(folder, image_folder.pretraining_split(folder), size)
    spec = describe_images(x, name)
    return dataclasses.replace(spec, num_classes=len(image_folder.classes(folder)) or None, root=str(folder),
                               image_size=size)


def describe_images(x: torch.Tensor, name: str = "images") -> DataSpec:
    """The :class:`DataSpec` of images in memory, uint8 (N, C, H, W): their size (the smaller side),
    channels, and statistics computed from up to ``STATS_SAMPLE`` of them; no labels."""
    if not isinstance(x, torch.Tensor) or x.dtype != torch.uint8 or x.dim() != 4 or x.shape[1] not in (1, 3):
        raise ValueError(f"images must be a uint8 tensor (N, 1 or 3, H, W), got "
                         f"{tuple(x.shape) if isinstance(x, torch.Tensor) else type(x).__name__}")
    pick = torch.linspace(0, len(x) - 1, min(len(x), STATS_SAMPLE)).long()
    sample = x[pick].double().div_(255.0)
    mean = tuple(round(v, 4) for v in sample.mean(dim=(0, 2, 3)).tolist())
    std = tuple(round(max(v, 1e-3), 4) for v in sample.std(dim=(0, 2, 3)).tolist())
    return DataSpec(name, min(x.shape[-2:]), x.shape[1], mean, std, None, f"{len(pick):,} of its images")


def info(name: str) -> dict:
    """Channels, size (H, W), num_classes, splits, num_images, description and how to obtain `name`."""
    check_choice("dataset", name, DATASETS)
    return dict(_INFO[name], name=name, obtain=_obtain(name))


def pretraining_split(name: str, root=None) -> str:
    """The split self-supervised pretraining reads: ``train``, or an image folder's ``unlabelled/`` when it
    has no ``train/``."""
    check_choice("dataset", name, DATASETS)
    return image_folder.pretraining_split(_folder_root(root)) if name == "image-folder" else "train"


def labelled_splits(name: str, root=None) -> list[str]:
    """The splits whose images all carry labels (where probes and kNN can be scored)."""
    check_choice("dataset", name, DATASETS)
    if name != "image-folder":
        return [s for s in _INFO[name]["splits"] if "unlabeled" not in s]
    folder = _folder_root(root)
    return [s for s in image_folder.splits(folder)
            if s != image_folder.UNLABELLED and not image_folder.scan(folder, s)["loose"]]


def class_names(name: str, root=None) -> list[str]:
    """Class names in label order (for image-folder: the sorted class folders found under `root`)."""
    check_choice("dataset", name, DATASETS)
    if name == "fashion-mnist":
        return list(FASHION_MNIST_CLASSES)
    if name == "cifar10":
        return list(CIFAR10_CLASSES)
    if name == "stl10":
        return list(STL10_CLASSES)
    if name == "digits":
        return [str(d) for d in range(10)]
    return image_folder.classes(_folder_root(root))


def load(name: str, split: str = "train", root=None, *, download=None, size=None,
         skip_bad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Load a dataset split: images uint8 (N, C, H, W) contiguous CPU tensor; labels int64 (N,).

    root: where to look first (a folder; for cifar10 also the tarball file itself).
    download: True = download if not found, False = never, None = only if the host answers within seconds.
    size: int or (H, W) to resize to (bilinear); required for an image folder of mixed sizes.
    skip_bad: image folders only: skip (and count) images that do not decode instead of failing.
    """
    check_choice("dataset", name, DATASETS)
    if download is not None and not isinstance(download, bool):
        raise ValueError(f"download must be True, False or None (= only when online), got {download!r}")
    if name != "image-folder":  # image-folder splits are whatever folders exist, checked there
        _check_split(name, split, _INFO[name]["splits"])
    size = _check_size(size)
    if name == "image-folder":
        return image_folder.load(_folder_root(root), split, size, skip_bad)
    loader = {"fashion-mnist": _load_fashion_mnist, "cifar10": _load_cifar10,
              "stl10": _load_stl10, "digits": _load_digits}[name]
    x, y = loader(split, None if root is None else Path(root).expanduser(), download)
    if size is not None and tuple(x.shape[-2:]) != size:
        x = _resize(x, size)
    return x.contiguous(), y.to(torch.int64).contiguous()


def _check_split(name, split, splits):
    try:
        check_choice("split", split, splits)
    except ValueError as e:
        raise ValueError(f"{e} (dataset {name!r})") from None


def _check_size(size):
    if size is None:
        return None
    hw = tuple(size) if isinstance(size, (tuple, list)) else (size, size)
    if len(hw) != 2:
        raise ValueError(f"size must be an int or a pair (H, W), got {size!r}")
    for v in hw:
        check_positive("size", v)
    return hw


def _resize(x: torch.Tensor, size) -> torch.Tensor:
    """Bilinear antialiased resize of uint8 (N, C, H, W), in chunks so memory stays bounded."""
    out = torch.empty((x.shape[0], x.shape[1], *size), dtype=torch.uint8)
    for i in range(0, len(x), 4096):
        chunk = torch.nn.functional.interpolate(x[i:i + 4096].float(), size=size, mode="bilinear",
                                                align_corners=False, antialias=True)
        out[i:i + 4096] = chunk.round_().clamp_(0, 255).to(torch.uint8)
    return out


def _not_found(name, split, looked, reason=None) -> DatasetNotFoundError:
    lines = [f"{name} ({split}) not found. Any one of these works:"]
    lines += [f"  {i}. {way}" for i, way in enumerate(_obtain(name), 1)]
    lines += ["Looked in: " + ", ".join(map(str, dict.fromkeys(looked))) if looked else ""]
    if reason:
        lines.append(f"Download: {reason}")
    return DatasetNotFoundError("\n".join(l for l in lines if l))


# -----------------------------------------------------------------------------
# network: a download must never hang, and download=None asks "online?" quickly

def _online(host: str, port: int = 443, timeout: float = 3.0) -> bool:
    """True if a TCP connection to host opens within `timeout` s (DNS included: it runs in a thread)."""
    ok = []

    def probe():
        try:
            socket.create_connection((host, port), timeout=timeout).close()
            ok.append(True)
        except OSError:
            pass

    t = threading.Thread(target=probe, daemon=True)  # getaddrinfo ignores socket timeouts
    t.start()
    t.join(timeout)
    return bool(ok)


def _download(name, split, looked, download, host, port, fetch):
    """Run fetch() (a torchvision download) if allowed; turn any failure into DatasetNotFoundError."""
    if download is False:
        raise _not_found(name, split, looked, "not attempted (download=False)")
    if download is None and not _online(host, port):
        raise _not_found(name, split, looked, f"not attempted: {host} is unreachable (offline?)")
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(NET_TIMEOUT)  # torchvision's urllib calls have no timeout of their own
    try:
        return fetch()
    except Exception as e:  # noqa: BLE001 - any failure means "not available", with the reason shown
        raise _not_found(name, split, looked, f"failed: {type(e).__name__}: {e}") from e
    finally:
        socket.setdefaulttimeout(old)


def _torchvision():
    import torchvision  # imported only when needed: it takes seconds

    return torchvision


def _torchvision_local(cls, root, **kw):
    """A torchvision dataset from files already on disk; its 'corrupted' RuntimeError becomes a ValueError."""
    try:
        return getattr(_torchvision().datasets, cls)(root, download=False, **kw)
    except RuntimeError as e:
        raise ValueError(f"torchvision {cls} files in {root} are incomplete or corrupt: {e}") from e


def _tv_root(root):
    """Where torchvision finds or puts its files: root if given, else the git-ignored cache."""
    return Path(root) if root is not None and Path(root).is_dir() else cache_dir()


# -----------------------------------------------------------------------------
# fashion-mnist: IDX files

def read_idx(path) -> np.ndarray:
    """Read an IDX file (optionally .gz): magic 0x0000 08 <ndim>, ndim big-endian uint32 dims, uint8 data."""
    path = Path(path)
    try:
        with (gzip.open(path, "rb") if path.suffix == ".gz" else open(path, "rb")) as f:
            raw = f.read()
    except (EOFError, OSError) as e:  # truncated gzip stream or not gzip at all
        raise ValueError(f"{path} is truncated or corrupt ({e}); "
                         "copy it again (sha256 in data/fashion-mnist/README.md)") from e
    if len(raw) < 4 or raw[0] != 0 or raw[1] != 0 or raw[2] != 0x08:
        raise ValueError(f"{path} is not a uint8 IDX file "
                         f"(magic bytes {raw[:4].hex() or 'missing'}, expected 000008xx)")
    ndim = raw[3]
    header = 4 + 4 * ndim
    dims = tuple(int(d) for d in np.frombuffer(raw[4:header], dtype=">u4")) if len(raw) >= header else None
    expected = None if dims is None else header + int(np.prod(dims))
    if expected is None or len(raw) != expected:
        raise ValueError(f"{path} is truncated or corrupt: {len(raw)} bytes, header says {expected}")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def _load_fashion_mnist(split, root, download):
    files = FASHION_MNIST_FILES[split]
    given = [root] if root is not None else []
    dirs = given + [Path(DATA_DIR) / "fashion-mnist",
                    Path(REPO_DIR) / "data" / "fashion-mnist",  # still found when $SSLKIT_DATA moves DATA_DIR
                    Path(SYSTEM_FASHION_MNIST)]
    dirs += [d / "FashionMNIST" / "raw" for d in given + [cache_dir()]]  # where torchvision downloads to
    dirs = list(dict.fromkeys(dirs))
    for d in dirs:
        if all((d / f).is_file() for f in files):
            x, y = read_idx(d / files[0]), read_idx(d / files[1])
            if len(x) != len(y):
                raise ValueError(f"{d}: {len(x)} images but {len(y)} labels")
            return torch.from_numpy(x.copy()).unsqueeze(1), torch.from_numpy(y.astype(np.int64))

    def fetch():
        ds = _torchvision().datasets.FashionMNIST(_tv_root(root), train=split == "train", download=True)
        return ds.data.unsqueeze(1).contiguous(), ds.targets
    return _download("fashion-mnist", split, dirs, download,
                     "fashion-mnist.s3-website.eu-central-1.amazonaws.com", 80, fetch)


# -----------------------------------------------------------------------------
# cifar10: cache -> ImageFolder tree -> tarball (decoded once into the cache) -> torchvision batches -> download

def _load_cifar10(split, root, download):
    # The cache wins over every source (they all hold CIFAR-10); delete DATA_DIR/cache/cifar10-*.pt to re-decode.
    cached = _read_cache("cifar10", split)
    if cached is not None:
        return cached
    looked = [cache_dir() / f"cifar10-{split}.pt"]
    for d in ([root] if root is not None else []) + [Path(DATA_DIR) / "cifar10"]:
        looked.append(d / split)
        if (d / split).is_dir():
            return _cifar10_tree(d, split)
    for t in _tarball_candidates(root):
        looked.append(t)
        if t.is_file():
            decoded = _decode_tarball(t)
            if split not in decoded:
                raise DatasetNotFoundError(f"{t} has no {split}/<class>/ images (found splits: {sorted(decoded)})")
            return decoded[split]
    for d in dict.fromkeys(([root] if root is not None else []) + [cache_dir()]):
        looked.append(d / "cifar-10-batches-py")
        if (d / "cifar-10-batches-py").is_dir():
            ds = _torchvision_local("CIFAR10", d, train=split == "train")
            return _from_hwc(ds.data), torch.tensor(ds.targets)

    def fetch():
        ds = _torchvision().datasets.CIFAR10(_tv_root(root), train=split == "train", download=True)
        return _from_hwc(ds.data), torch.tensor(ds.targets)
    return _download("cifar10", split, looked, download, "www.cs.toronto.edu", 443, fetch)


def _tarball_candidates(root):
    out = []
    if root is not None:
        out += [root] if root.name.endswith(".tar.gz") else [root / CIFAR10_TARBALL]
    return out + [Path(DATA_DIR) / CIFAR10_TARBALL, cache_dir() / CIFAR10_TARBALL]


def _read_cache(name, split):
    """The decoded cache for (name, split), or None if absent or unreadable (then it is rebuilt)."""
    path = cache_dir() / f"{name}-{split}.pt"
    if not path.is_file():
        return None
    try:
        d = torch.load(path, weights_only=True)  # weights_only: a cache file must not run code
        x, y = d["images"], d["labels"]
        if x.dtype != torch.uint8 or x.dim() != 4 or len(x) != len(y):
            raise ValueError(f"unexpected contents: images {x.dtype} {tuple(x.shape)}, {len(y)} labels")
        return x, y
    except Exception as e:  # noqa: BLE001 - a broken cache is rebuilt, not fatal
        warnings.warn(f"ignoring unreadable cache {path} ({type(e).__name__}: {e}); it will be rebuilt")
        return None


def _write_cache(name, split, x, y, source):
    """Write atomically (tmp + os.replace) so an interrupted run never leaves half a cache behind."""
    path = cache_dir() / f"{name}-{split}.pt"
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        torch.save({"images": x, "labels": y, "source": str(source)}, tmp)
        os.replace(tmp, path)
    except OSError as e:  # read-only checkout etc.: still return the data, just slower next time
        warnings.warn(f"could not write cache {path}: {e}")
        tmp.unlink(missing_ok=True)


def _decode_tarball(path: Path) -> dict:
    """Stream `path` once (split/class/file.jpg), decode every image, cache each split. {split: (x, y)}."""
    from sslkit.progress import tqdm

    items: dict[str, list] = {}
    try:
        with open(path, "rb") as raw, tqdm.wrapattr(raw, "read", total=path.stat().st_size,
                                                    desc=f"decoding {path.name} (once)") as f:
            with tarfile.open(fileobj=f, mode="r|gz") as tar:  # stream: never extract 60k files to disk
                for m in tar:
                    parts = PurePosixPath(m.name).parts
                    if not m.isfile() or len(parts) < 3 or not parts[-1].lower().endswith(IMAGE_EXTS):
                        continue
                    split, cls, fname = parts[-3:]
                    label = _class_index(cls, CIFAR10_CLASSES, f"{path}:{m.name}")
                    items.setdefault(split, []).append((label, fname, tar.extractfile(m).read()))
    except (tarfile.TarError, EOFError, OSError) as e:
        raise ValueError(f"{path} is truncated or corrupt ({e}); copy it again and check its sha256") from e
    out = {}
    for split, rows in items.items():
        rows.sort(key=lambda r: r[:2])  # tar order is arbitrary; (class, file name) is not
        imgs = [_decode_rgb32(r[2], f"{path}:{split}/{r[1]}") for r in rows]
        x, y = _from_hwc(np.stack(imgs)), torch.tensor([r[0] for r in rows], dtype=torch.int64)
        _write_cache("cifar10", split, x, y, path)
        out[split] = (x, y)
    return out


def _from_hwc(a: np.ndarray) -> torch.Tensor:
    return torch.from_numpy(np.ascontiguousarray(a)).permute(0, 3, 1, 2).contiguous()


def _class_index(cls, classes, where):
    if cls not in classes:
        raise ValueError(f"{where}: unknown class folder {cls!r}; expected one of {', '.join(classes)}")
    return classes.index(cls)


def _decode_rgb32(raw: bytes, where) -> np.ndarray:
    """One CIFAR-10 JPEG/PNG file -> RGB uint8 (32, 32, 3); a clear error naming ``where`` otherwise."""
    try:
        a = np.asarray(image_folder.decode(raw).convert("RGB"))
    except ValueError as e:
        raise ValueError(f"cannot decode image {where}: {e}") from None
    if a.shape[:2] != (32, 32):
        raise ValueError(f"{where} is {a.shape[1]}x{a.shape[0]}, expected 32x32")
    return a


def _cifar10_tree(root: Path, split: str):
    """A CIFAR-10 ImageFolder tree root/<split>/<class>/*.png|jpg, labels in CIFAR-10's class order."""
    names = image_folder.classes(root)
    for c in names:
        _class_index(c, CIFAR10_CLASSES, root / split / c)
    x, y = image_folder.load(root, split)
    if tuple(x.shape[1:]) != (3, 32, 32):
        raise ValueError(f"{root / split} holds {tuple(x.shape[1:])} images, expected CIFAR-10's (3, 32, 32)")
    to_cifar = torch.tensor([CIFAR10_CLASSES.index(c) for c in names])
    return x, to_cifar[y]


# -----------------------------------------------------------------------------
# stl10, digits, image-folder

def _load_stl10(split, root, download):
    dirs = list(dict.fromkeys(([root] if root is not None else []) + [cache_dir()]))
    for d in dirs:
        if (d / "stl10_binary").is_dir():
            ds = _torchvision_local("STL10", d, split=split)
            return torch.from_numpy(ds.data), torch.from_numpy(ds.labels.astype(np.int64))

    def fetch():
        ds = _torchvision().datasets.STL10(_tv_root(root), split=split, download=True)
        return torch.from_numpy(ds.data), torch.from_numpy(ds.labels.astype(np.int64))
    return _download("stl10", split, [d / "stl10_binary" for d in dirs], download, "ai.stanford.edu", 80, fetch)


def _load_digits(split, root, download):
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    d = load_digits()
    x = (d.images.astype(np.int64) * 255 // 16).astype(np.uint8)  # 0..16 -> 0..255, exact at both ends
    idx = np.arange(len(x))
    tr, te = train_test_split(idx, test_size=360, stratify=d.target, random_state=0)  # fixed 1437/360
    keep = np.sort(tr if split == "train" else te)
    return torch.from_numpy(x[keep]).unsqueeze(1), torch.from_numpy(d.target[keep].astype(np.int64))


def _folder_root(root) -> Path:
    if root is None:
        raise ValueError("dataset 'image-folder' needs root=<folder holding train/<class>/*.jpg> (--data-dir "
                         "on the command line, data_dir in a notebook)")
    root = Path(root).expanduser()
    if not root.is_dir():
        raise _not_found("image-folder", "any", [root])
    return root


# -----------------------------------------------------------------------------
# splits and label subsets (all stratified, deterministic under `seed`, returned sorted)

def _labels(labels) -> torch.Tensor:
    y = torch.as_tensor(labels).cpu()
    if y.dim() != 1 or y.dtype.is_floating_point or y.dtype == torch.bool:
        raise ValueError(f"labels must be a 1-D integer tensor, got dtype {y.dtype} and shape {tuple(y.shape)}")
    return y.long()


def _per_class_perms(y: torch.Tensor, seed: int):
    """(class, shuffled indices of that class) for every class >= 0, in class order.

    The permutation of a class does not depend on k or fraction, so for one seed a smaller
    subset is always inside a larger one (nested label-efficiency curves)."""
    check_positive("seed", seed, allow_zero=True)
    g = torch.Generator().manual_seed(seed)
    for c in torch.unique(y).tolist():
        if c < 0:  # -1 = unlabelled (STL-10): never a class
            continue
        idx = torch.nonzero(y == c).flatten()
        yield c, idx[torch.randperm(len(idx), generator=g)]


def train_val_split(labels, val_fraction=0.1, seed=0) -> tuple[torch.Tensor, torch.Tensor]:
    """Stratified split: round(val_fraction * n_c) of each class to val, the rest to train (sorted, disjoint)."""
    check_fraction("val_fraction", val_fraction, inclusive_high=False)
    y = _labels(labels)
    val = []
    for _, perm in _per_class_perms(y, seed):
        n_val = min(round(val_fraction * len(perm)), len(perm) - 1)  # keep every class in train
        val.append(perm[:n_val])
    val = torch.cat(val).sort().values if val else torch.empty(0, dtype=torch.long)
    is_val = torch.zeros(len(y), dtype=torch.bool)
    is_val[val] = True
    return torch.nonzero(~is_val).flatten(), val  # unlabelled (-1) examples stay in train


def k_per_class(labels, k, seed=0) -> torch.Tensor:
    """Exactly k indices of every class (labels >= 0), sorted; ValueError if a class has fewer than k."""
    check_positive("k", k)
    picked = []
    for c, perm in _per_class_perms(_labels(labels), seed):
        if len(perm) < k:
            raise ValueError(f"class {c} has only {len(perm)} examples, fewer than k={k}")
        picked.append(perm[:k])
    return torch.cat(picked).sort().values if picked else torch.empty(0, dtype=torch.long)


def label_fraction(labels, fraction, seed=0) -> torch.Tensor:
    """A stratified subset with round(fraction * n_c) (at least 1) of every class, sorted."""
    check_fraction("fraction", fraction)
    picked = [perm[:max(1, round(fraction * len(perm)))] for _, perm in _per_class_perms(_labels(labels), seed)]
    return torch.cat(picked).sort().values if picked else torch.empty(0, dtype=torch.long)


# -----------------------------------------------------------------------------
# device-resident batching

class DeviceLoader:
    """Keeps uint8 images (and labels) on `device`; shuffles with torch.randperm and a generator
    seeded from (seed, epoch), so epoch e's order is the same in every run -> exact resume mid-epoch.

    The permutation is drawn on the CPU and copied over once per epoch (400 KB for CIFAR-10):
    the order is then identical on every device, and nothing inside an epoch syncs with the host.
    Batches are uint8 on `device`; with shuffle=False they are views of the stored tensor, so
    don't modify them in place. Iterating the loader itself always gives epoch 0: training loops
    call loader.epoch(e) (and loader.epoch(e, start=step) to resume).
    """

    def __init__(self, images, labels=None, batch_size=256, device="cpu", shuffle=True, drop_last=True, seed=0):
        if not isinstance(images, torch.Tensor) or images.dtype != torch.uint8 or images.dim() != 4:
            is_tensor = isinstance(images, torch.Tensor)
            got = f"{images.dtype} tensor of shape {tuple(images.shape)}" if is_tensor else type(images).__name__
            raise ValueError(f"images must be a uint8 tensor (N, C, H, W), got {got}")
        n = len(images)
        if n == 0:
            raise ValueError("images is empty")
        if labels is not None:
            labels = _labels(labels)
            if len(labels) != n:
                raise ValueError(f"{n} images but {len(labels)} labels")
        check_positive("batch_size", batch_size)
        check_positive("seed", seed, allow_zero=True)
        if drop_last and batch_size > n:
            raise ValueError(f"batch_size={batch_size} is larger than the {n} images, so drop_last=True "
                             f"leaves no batch; use batch_size <= {n} or drop_last=False")
        self.device = torch.device(device)
        self.images = images.to(self.device).contiguous()
        self.labels = None if labels is None else labels.to(self.device)
        self.batch_size, self.shuffle, self.drop_last, self.seed = batch_size, shuffle, drop_last, seed

    def __len__(self) -> int:
        n, b = len(self.images), self.batch_size
        return n // b if self.drop_last else -(-n // b)

    def order(self, epoch: int) -> torch.Tensor:
        """The index order of `epoch` on the loader's device (arange when shuffle=False)."""
        check_positive("epoch", epoch, allow_zero=True)
        n = len(self.images)
        if not self.shuffle:
            return torch.arange(n, device=self.device)
        # SeedSequence mixes (seed, epoch) so neighbouring seeds/epochs give unrelated orders
        s = int(np.random.SeedSequence([self.seed, epoch]).generate_state(1, dtype=np.uint64)[0])
        perm = torch.randperm(n, generator=torch.Generator().manual_seed(s))
        return perm.to(self.device)

    def epoch(self, epoch: int, start: int = 0):
        """Iterator of (x_uint8, y_or_None) for `epoch`, skipping the first `start` batches."""
        check_positive("start", start, allow_zero=True)
        if start > len(self):
            raise ValueError(f"start={start} is past the end of the epoch ({len(self)} batches)")
        order = self.order(epoch)  # validated and drawn now, not at the first next()
        return self._batches(order, start)

    def _batches(self, order, start):
        b, n = self.batch_size, len(self.images)
        for i in range(start, len(self)):
            if self.shuffle:
                idx = order[i * b:min((i + 1) * b, n)]
                yield self.images[idx], None if self.labels is None else self.labels[idx]
            else:  # contiguous slices: no gather needed
                sl = slice(i * b, min((i + 1) * b, n))
                yield self.images[sl], None if self.labels is None else self.labels[sl]

    def __iter__(self):
        return self.epoch(0)

    def __repr__(self):
        return (f"DeviceLoader({len(self.images)} images {tuple(self.images.shape[1:])}, batch_size={self.batch_size}, "
                f"{len(self)} batches/epoch, device={self.device}, shuffle={self.shuffle}, seed={self.seed})")


class ShardedLoader:
    """This rank's part of every global batch, with the single-process epoch order.

    Epoch e's permutation comes from (seed, e) as in :class:`DeviceLoader` (which this wraps, on the
    CPU, for validation and the permutation); global batch i is ``order[i B:(i + 1) B]`` and rank r
    takes its r-th slice of B / W images. At the start of an
    epoch the rank copies the images it will read in that epoch (1/W of the dataset) to its device
    in batch order, so each rank holds only its shard and a step is a slice, with no gather and no
    host work. Yields ``(x_uint8, y_or_None)`` like DeviceLoader; ``len()`` is the number of GLOBAL
    steps per epoch, the same for every world size.
    """

    def __init__(self, images, labels=None, batch_size: int = 256, device="cpu", seed: int = 0, rank: int = 0,
                 world_size: int = 1):
        check_positive("world_size", world_size)
        if not (isinstance(rank, int) and 0 <= rank < world_size):
            raise ValueError(f"rank must be an integer in [0, {world_size}), got {rank!r}")
        check_positive("batch_size", batch_size)
        if batch_size % world_size:
            lo, hi = batch_size // world_size * world_size, -(-batch_size // world_size) * world_size
            raise ValueError(f"batch_size={batch_size} (the global batch) must be divisible by the {world_size} "
                             f"processes; use e.g. {lo or hi} or {hi}")
        self._all = DeviceLoader(images, labels, batch_size=batch_size, device="cpu", shuffle=True, drop_last=True,
                                 seed=seed)
        self.device, self.rank, self.world_size = torch.device(device), rank, world_size
        self.batch_size, self.local_batch, self.seed = batch_size, batch_size // world_size, seed

    def __len__(self) -> int:
        return len(self._all)

    def indices(self, epoch: int) -> torch.Tensor:
        """Dataset indices this rank reads in ``epoch``, in order: (steps * B / W,)."""
        steps = len(self)
        order = self._all.order(epoch)[: steps * self.batch_size]
        return order.view(steps, self.world_size, self.local_batch)[:, self.rank].reshape(-1)

    def epoch(self, epoch: int, start: int = 0):
        """Iterator of this rank's (x, y) for global steps ``start ..`` of ``epoch``."""
        check_positive("start", start, allow_zero=True)
        if start > len(self):
            raise ValueError(f"start={start} is past the end of the epoch ({len(self)} batches)")
        mine = self.indices(epoch)[start * self.local_batch:]
        x = self._all.images[mine].to(self.device)
        y = None if self._all.labels is None else self._all.labels[mine].to(self.device)
        return self._batches(x, y)

    def _batches(self, x, y):
        b = self.local_batch
        for i in range(0, len(x), b):
            yield x[i:i + b], None if y is None else y[i:i + b]

    def __iter__(self):
        return self.epoch(0)

    def __repr__(self):
        return (f"ShardedLoader(rank {self.rank} of {self.world_size}, {len(self._all.images)} images, global batch "
                f"{self.batch_size} = {self.world_size} x {self.local_batch}, {len(self)} steps/epoch, "
                f"device={self.device})")


def training_loader(images, labels=None, *, batch_size: int, device, seed: int, rank: int = 0, world_size: int = 1):
    """A shuffling, drop-last loader of the global ``batch_size``: :class:`DeviceLoader` in one process,
    rank ``rank``'s :class:`ShardedLoader` of ``world_size`` data-parallel processes otherwise."""
    if world_size == 1:
        return DeviceLoader(images, labels, batch_size=batch_size, device=device, shuffle=True, drop_last=True,
                            seed=seed)
    return ShardedLoader(images, labels, batch_size=batch_size, device=device, seed=seed, rank=rank,
                         world_size=world_size)
