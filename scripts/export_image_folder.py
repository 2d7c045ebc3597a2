"""Write images of a dataset sslkit knows as an image folder (PNG files), to try the image-folder path on data
whose results are known:

    python scripts/export_image_folder.py --dataset fashion-mnist --out runs/fmnist-png --train 10000 --test 2000

It writes OUT/train/<class>/<i>.png and OUT/test/<class>/<i>.png (a random sample of each split,
the same for the same --seed), then `python -m sslkit pretrain --dataset image-folder --data-dir OUT`
reads them as it would read your own photos.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
from PIL import Image

from sslkit.checks import check_positive
from sslkit.data import DATASETS, class_names, load


def export(dataset: str, out: Path, counts: dict, seed: int = 0) -> None:
    names = class_names(dataset)
    for split, n in counts.items():
        x, y = load(dataset, split)
        check_positive(f"{split} images", n)
        rng = np.random.default_rng(seed)
        pick = np.sort(rng.permutation(len(x))[: min(n, len(x))])
        for i in pick:
            img = x[i].permute(1, 2, 0).numpy()
            folder = out / split / names[int(y[i])].replace("/", "-")
            folder.mkdir(parents=True, exist_ok=True)
            Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img).save(folder / f"{i}.png")
        print(f"{split}: {len(pick):,} images in {out / split}/<class>/")


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--dataset", default="fashion-mnist", choices=[d for d in DATASETS if d != "image-folder"])
    p.add_argument("--out", required=True)
    p.add_argument("--train", type=int, default=10000, help="training images to write")
    p.add_argument("--test", type=int, default=2000, help="test images to write")
    p.add_argument("--seed", type=int, default=0)
    a = p.parse_args()
    export(a.dataset, Path(a.out), {"train": a.train, "test": a.test}, a.seed)


if __name__ == "__main__":
    main()
