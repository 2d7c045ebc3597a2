"""Your own images: a folder read into the tensors every loader returns.

    root/train/<class>/*.png  root/test/<class>/*.png     labelled (labels index the training classes)
    root/train/*.jpg                                      unlabelled (labels -1): pretraining only
    root/unlabelled/**/*.jpg                              unlabelled too, whatever the subfolders

    x, y = load(root, "train")              # uint8 (N, C, H, W), C = 1 when every image is grayscale
    check(root)                             # every layout error at once, before any work

The layout is checked before a single image is decoded: a labelled split needs two or more class
folders, each with images; a test split may not name a class the training split lacks (the
classifier could never predict it); a split mixes class folders and loose images only by mistake.
Files that are not images (by extension) are skipped with a warning that names them; an image
that does not decode is an error naming its path, or, with ``skip_bad=True``, skipped and counted.
Images of different sizes need ``size=`` (every image is then resized to it).
"""
from __future__ import annotations

import io
import warnings
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
from PIL import Image, UnidentifiedImageError

IMAGE_EXTS = (".png", ".jpg", ".jpeg", ".bmp", ".webp", ".tif", ".tiff")
UNLABELLED = "unlabelled"
GRAY_MODES = ("1", "L", "I", "I;16", "F")  # single-band PIL modes


class FolderLayoutError(ValueError):
    """The folder's layout cannot be used as asked; the message says what is wrong and how to fix it."""


def _visible(p: Path) -> bool:
    return not p.name.startswith(".")  # .ipynb_checkpoints, .DS_Store and friends


def _is_image(p: Path) -> bool:
    return p.is_file() and p.suffix.lower() in IMAGE_EXTS


def splits(root) -> list[str]:
    """The split folders under ``root`` (train, test, val, unlabelled, ...), sorted."""
    return sorted(d.name for d in Path(root).iterdir() if d.is_dir() and _visible(d))


def scan(root, split: str) -> dict:
    """What a split folder holds, without decoding: ``{"classes": {name: [files]}, "loose": [files],
    "ignored": [non-image files]}``. The unlabelled split's images are all "loose", at any depth."""
    base = Path(root) / split
    out = {"classes": {}, "loose": [], "ignored": []}
    if split == UNLABELLED:
        for f in sorted(p for p in base.rglob("*") if p.is_file() and _visible(p)):
            (out["loose"] if _is_image(f) else out["ignored"]).append(f)
        return out
    for entry in sorted(p for p in base.iterdir() if _visible(p)):
        if entry.is_dir():
            files = [f for f in sorted(entry.iterdir()) if _visible(f) and f.is_file()]
            out["classes"][entry.name] = [f for f in files if _is_image(f)]
            out["ignored"] += [f for f in files if not _is_image(f)]
        elif _is_image(entry):
            out["loose"].append(entry)
        elif entry.is_file():
            out["ignored"].append(entry)
    return out


def classes(root) -> list[str]:
    """The class names, in label order: the class folders of the training split (of the first labelled
    split when there is no labelled ``train``), sorted."""
    names = splits(root)
    for split in (["train"] if "train" in names else []) + names:
        found = scan(root, split)["classes"]
        if found:
            return sorted(found)
    return []


def pretraining_split(root) -> str:
    """``train`` if there is one, else ``unlabelled``: the images self-supervised pretraining reads."""
    names = splits(root)
    if "train" in names:
        return "train"
    if UNLABELLED in names:
        return UNLABELLED
    raise FolderLayoutError(f"{root} has no train/ or {UNLABELLED}/ folder to pretrain on; found "
                            f"{', '.join(names) or 'no folders'}")


def check(root) -> None:
    """Raise :class:`FolderLayoutError` for every layout problem of every split, all in one message."""
    root = Path(root)
    problems = []
    train_classes = classes(root)
    for split in splits(root):
        s = scan(root, split)
        where = f"{split}/"
        if s["classes"] and s["loose"]:
            problems.append(f"{where} mixes class folders ({', '.join(s['classes'])}) with {len(s['loose'])} loose "
                            f"images (e.g. {s['loose'][0].name}): put every image in a class folder, or all of "
                            f"them directly in {where} to use them unlabelled")
        if not s["classes"] and not s["loose"]:
            problems.append(f"{where} has no images (*{', *'.join(IMAGE_EXTS)})")
        empty = [c for c, files in s["classes"].items() if not files]
        if empty:
            problems.append(f"class folder(s) {', '.join(f'{where}{c}' for c in empty)} hold no images")
        if len(s["classes"]) == 1 and sorted(s["classes"]) == train_classes:  # the classes a classifier learns
            (only,) = s["classes"]
            problems.append(f"{where} has one class folder ({only!r}): a classifier needs two or more; to pretrain "
                            f"without labels, put the images directly in {where} or in {UNLABELLED}/")
        unknown = sorted(set(s["classes"]) - set(train_classes))
        if unknown:
            problems.append(f"{where} has class(es) {', '.join(unknown)} that the training classes "
                            f"({', '.join(train_classes)}) lack: they could never be predicted")
    if problems:
        raise FolderLayoutError(f"image folder {root}: " + "; ".join(problems))


def load(root, split: str, size=None, skip_bad: bool = False) -> tuple[torch.Tensor, torch.Tensor]:
    """Images uint8 (N, C, H, W) and labels int64 (N,) (-1 for unlabelled images) of ``root/split``.

    C is 1 when every image is single-band (grayscale), else 3 (RGB; alpha dropped, palettes expanded).
    ``size``: (H, W) to resize every image to (bilinear); needed when the images differ in size.
    The result is cached per (folder contents, split, size): treat it as read-only.
    """
    root = Path(root).expanduser()
    names = splits(root)
    if split not in names:
        raise FolderLayoutError(f"no {split}/ folder in {root}; valid splits: {', '.join(names) or 'none'}")
    check(root)
    s = scan(root, split)
    if s["ignored"]:
        shown = ", ".join(str(f) for f in s["ignored"][:3])
        warnings.warn(f"skipped {len(s['ignored'])} file(s) in {root / split} that are not images ({shown}"
                      f"{', ...' if len(s['ignored']) > 3 else ''}); images end in {', '.join(IMAGE_EXTS)}")
    index = {c: i for i, c in enumerate(classes(root))}
    files = [(index[c], f) for c, fs in sorted(s["classes"].items()) for f in fs] + [(-1, f) for f in s["loose"]]
    fingerprint = tuple((str(f), f.stat().st_mtime_ns, f.stat().st_size) for _, f in files)
    return _decode_all(tuple(files), fingerprint, size, skip_bad)


@lru_cache(maxsize=4)
def _decode_all(files, fingerprint, size, skip_bad):
    from sslkit.progress import tqdm

    decoded, labels, bad = [], [], []
    where = files[0][1].parent.parent if files else ""
    for label, f in tqdm(files, desc=f"reading {where}", disable=len(files) < 2000):
        try:
            decoded.append(decode(f.read_bytes(), size))
            labels.append(label)
        except ValueError as e:
            if not skip_bad:
                raise ValueError(f"cannot decode image {f}: {e} (skip_bad=True / --skip-bad-images skips such "
                                 f"files and counts them)") from None
            bad.append(f)
    if bad:
        warnings.warn(f"skipped {len(bad)} image(s) that do not decode, e.g. {bad[0]}")
    if not decoded:
        raise FolderLayoutError("no image could be decoded")
    gray = all(im.mode in GRAY_MODES for im in decoded)
    arrays = [np.asarray(im.convert("L" if gray else "RGB")) for im in decoded]
    shapes = {}
    for (_, f), a in zip(files, arrays):
        shapes.setdefault(a.shape[:2], f)
    if len(shapes) > 1:
        examples = "; ".join(f"{w}x{h} ({f})" for (h, w), f in list(shapes.items())[:4])
        raise FolderLayoutError(f"the images have {len(shapes)} different sizes, e.g. {examples}; pass size=<int or "
                                f"(H, W)> (--image-size on the command line) to resize them all")
    x = np.stack(arrays)
    x = x[:, None] if gray else x.transpose(0, 3, 1, 2)
    return torch.from_numpy(np.ascontiguousarray(x)), torch.tensor(labels, dtype=torch.int64)


def decode(raw: bytes, size=None) -> Image.Image:
    """One image file's bytes -> a loaded PIL image in mode L (any single-band image) or RGB, resized to
    ``size`` (H, W) if given; ValueError if the bytes are not an image this Pillow can read."""
    try:
        with Image.open(io.BytesIO(raw)) as im:
            im.load()
            if im.mode == "LA":  # grayscale with alpha: the gray band
                im = im.convert("L")
            elif im.mode not in GRAY_MODES + ("RGB",):  # palette, RGBA, CMYK, ...
                im = im.convert("RGB")
            if im.mode in ("I", "I;16", "F"):  # 16-bit / float grayscale: to 8 bits
                a = np.asarray(im, dtype=np.float64)
                im = Image.fromarray(np.clip(a / max(a.max(), 1) * 255, 0, 255).astype(np.uint8), "L")
            if size is not None and im.size != (size[1], size[0]):
                im = im.resize((size[1], size[0]), Image.BILINEAR)
            return im.copy()
    except (UnidentifiedImageError, OSError, SyntaxError) as e:
        raise ValueError(str(e) or type(e).__name__) from None
