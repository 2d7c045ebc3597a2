"""Evaluation of a frozen encoder: features, weighted kNN, linear probe, retrieval, reports.

    feats = extract_features(encoder, images, transform)             # (N, D) float32
    acc = knn_accuracy(train_feats, train_labels, test_feats, test_labels)
    probe = linear_probe(train_feats, train_labels, test_feats, test_labels)
    metrics = evaluate_encoder(encoder, "fashion-mnist")             # knn, linear, linear with 10 labels/class
    curve = label_efficiency({"probe": fn}, labels, budgets=(1, 10, 100, None))

Features are the backbone output h (before the projection head), as in SimCLR's protocol. Training
with labels (fine-tuning, the supervised baseline) is :mod:`sslkit.finetune`.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sslkit.augment import for_dataset
from sslkit.checks import check_choice, check_positive
from sslkit.data import _labels, describe, k_per_class, labelled_splits, load
from sslkit.progress import tqdm

PROTOCOLS = ("knn", "linear", "linear-k10")


@torch.no_grad()
def extract_features(encoder: nn.Module, images: torch.Tensor, transform, batch_size: int = 1024,
                     device: str | torch.device | None = None) -> torch.Tensor:
    """Encoder features of uint8 ``images`` (N, C, H, W) -> float32 (N, D) on ``device``.

    ``transform`` turns a uint8 batch into the encoder's input (e.g. ``SimCLRAugment.normalize``).
    The encoder runs in eval mode (BatchNorm uses running statistics) and is restored afterwards.
    """
    device = torch.device(device) if device is not None else next(encoder.parameters()).device
    was_training = encoder.training
    encoder.eval()
    out = []
    try:
        for i in range(0, len(images), batch_size):
            x = transform(images[i:i + batch_size].to(device, non_blocking=True))
            if device.type == "cuda":
                with torch.autocast("cuda", dtype=torch.bfloat16):
                    h = encoder(x.contiguous(memory_format=torch.channels_last))
            else:
                h = encoder(x)
            out.append(h.float())
    finally:
        encoder.train(was_training)
    return torch.cat(out)


@torch.no_grad()
def knn_predict(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                num_classes: int | None = None, k: int = 200, temperature: float = 0.1,
                chunk: int = 1024) -> torch.Tensor:
    """Weighted kNN on cosine similarity (Wu et al. 2018, "Unsupervised feature learning via
    non-parametric instance discrimination"; the monitor used by lightly and solo-learn).

    Each test feature votes with its k most similar train features, neighbour j weighing
    exp(s_j / temperature). Shapes: train (M, D), labels (M,), test (N, D) -> predictions (N,).
    """
    check_positive("k", k)
    num_classes = int(train_labels.max()) + 1 if num_classes is None else num_classes
    k = min(k, len(train_feats))
    bank = F.normalize(train_feats.float(), dim=1)
    labels = train_labels.to(bank.device)
    preds = []
    for i in range(0, len(test_feats), chunk):
        q = F.normalize(test_feats[i:i + chunk].float().to(bank.device), dim=1)
        sim, idx = (q @ bank.T).topk(k, dim=1)
        votes = torch.zeros(len(q), num_classes, device=bank.device)
        votes.scatter_add_(1, labels[idx], (sim / temperature).exp())
        preds.append(votes.argmax(1))
    return torch.cat(preds)


def knn_accuracy(train_feats, train_labels, test_feats, test_labels, **kwargs) -> float:
    """Accuracy of :func:`knn_predict` on ``test_labels``."""
    pred = knn_predict(train_feats, train_labels, test_feats, **kwargs)
    return (pred.cpu() == test_labels.cpu()).float().mean().item()


def linear_probe(train_feats: torch.Tensor, train_labels: torch.Tensor, test_feats: torch.Tensor,
                 test_labels: torch.Tensor | None = None, weight_decay: float = 1e-4,
                 max_iter: int = 300) -> dict:
    """Multinomial logistic regression on frozen features.

    Features are standardised with the train statistics, then W, b minimise
    mean cross-entropy + weight_decay * ||W||^2 by full-batch L-BFGS (a convex problem: the
    optimum, not a training schedule, decides the score). Returns ``{"acc", "pred", "weight", "bias"}``.
    """
    dev = train_feats.device
    x = train_feats.float()
    mean, std = x.mean(0), x.std(0).clamp_min(1e-6)
    x = (x - mean) / std
    y = train_labels.to(dev)
    num_classes = int(y.max()) + 1
    linear = nn.Linear(x.shape[1], num_classes).to(dev)
    nn.init.zeros_(linear.weight)
    nn.init.zeros_(linear.bias)
    opt = torch.optim.LBFGS(linear.parameters(), lr=1, max_iter=max_iter, history_size=20,
                            tolerance_grad=1e-6, tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(linear(x), y) + weight_decay * linear.weight.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    with torch.no_grad():
        pred = linear((test_feats.float().to(dev) - mean) / std).argmax(1)
    acc = (pred.cpu() == test_labels.cpu()).float().mean().item() if test_labels is not None else None
    return {"acc": acc, "pred": pred.cpu(), "weight": linear.weight.detach(), "bias": linear.bias.detach()}


def classification_report(y_true, y_pred, class_names=None, as_dict: bool = False):
    """scikit-learn's per-class precision / recall / F1 / support table."""
    from sklearn.metrics import classification_report as report

    return report(np.asarray(y_true), np.asarray(y_pred), target_names=class_names, digits=3,
                  output_dict=as_dict, zero_division=0)


def confusion_matrix(y_true, y_pred, num_classes: int | None = None) -> np.ndarray:
    """Counts C[i, j] of true class i predicted as j, shape (num_classes, num_classes)."""
    from sklearn.metrics import confusion_matrix as cm

    y_true, y_pred = np.asarray(y_true), np.asarray(y_pred)
    n = num_classes or int(max(y_true.max(), y_pred.max())) + 1
    return cm(y_true, y_pred, labels=list(range(n)))


def evaluate_features(train_feats, train_labels, test_feats, test_labels,
                      protocols=PROTOCOLS, seed: int = 0) -> dict:
    """Run each protocol on precomputed features; returns ``{"knn_acc", "linear_probe_acc", ...}``."""
    out = {}
    for p in protocols:
        check_choice("protocol", p, PROTOCOLS)
        if p == "knn":
            out["knn_acc"] = knn_accuracy(train_feats, train_labels, test_feats, test_labels)
        elif p == "linear":
            out["linear_probe_acc"] = linear_probe(train_feats, train_labels, test_feats, test_labels)["acc"]
        elif p == "linear-k10":
            idx = k_per_class(train_labels.cpu(), 10, seed=seed).to(train_feats.device)
            # 100 labels: a stronger ridge keeps the probe from fitting noise.
            out["linear_probe_k10_acc"] = linear_probe(train_feats[idx], train_labels[idx], test_feats,
                                                       test_labels, weight_decay=1e-2)["acc"]
    return out


def evaluate_encoder(encoder: nn.Module, dataset: str = "fashion-mnist", protocols=PROTOCOLS,
                     data_dir: str | None = None, device=None, seed: int = 0, data=None, size=None) -> dict:
    """Features of the train and test splits, then every protocol: the standard SSL evaluation.

    ``data`` may pass preloaded ``(train_x, train_y, test_x, test_y)`` to avoid reloading; ``data_dir``
    and ``size`` say where and at which size an image folder is read (its statistics normalise it).
    """
    if data is None:
        missing = [s for s in ("train", "test") if s not in labelled_splits(dataset, data_dir)]
        if missing:
            raise ValueError(f"evaluating on {dataset}{f' at {data_dir}' if data_dir else ''} needs labelled "
                             f"{' and '.join(missing)} split(s) (class folders): kNN and probes score labels")
        data = (*load(dataset, "train", root=data_dir, size=size), *load(dataset, "test", root=data_dir, size=size))
    train_x, train_y, test_x, test_y = data
    transform = for_dataset(describe(dataset, data_dir, size)).normalize
    tr = extract_features(encoder, train_x, transform, device=device)
    te = extract_features(encoder, test_x, transform, device=device)
    return evaluate_features(tr, train_y.to(tr.device), te, test_y.to(te.device), protocols, seed=seed)


@torch.no_grad()
def collapse_diagnostics(z: torch.Tensor) -> dict:
    """How collapsed are the embeddings ``z`` (N, D)? Returns ``{"std", "effective_rank"}``.

    - ``std``: the per-dimension standard deviation over the batch of the L2-normalised rows
      u = z / ||z||, averaged over the D dimensions (SimSiam, Chen & He 2021, Sec. 4.1 / Fig. 2).
      Complete collapse (every image maps to the same direction) gives 0; embeddings spread
      evenly over the unit sphere give about 1 / sqrt(D).
    - ``effective_rank``: exp of the entropy of the normalised singular values p_k = s_k / sum s
      of the (uncentred) matrix of normalised rows (Roy & Vetterli 2007; RankMe, Garrido et al.
      2023). 1 when all rows are one direction, up to min(N, D) when all directions are used;
      a "dimensional collapse" (rows on a low-dimensional subspace) shows here while ``std``
      may still look healthy.
    """
    if not isinstance(z, torch.Tensor) or z.dim() != 2 or z.shape[0] < 2:
        got = tuple(z.shape) if isinstance(z, torch.Tensor) else type(z).__name__
        raise ValueError(f"z must be a tensor of shape (N, D) with N >= 2, got {got}")
    u = F.normalize(z.detach().double(), dim=1)
    std = u.std(0).mean().item()
    s = torch.linalg.svdvals(u)
    p = s / s.sum().clamp_min(1e-12)
    entropy = -(p * torch.log(p.clamp_min(1e-12))).sum()
    return {"std": std, "effective_rank": entropy.exp().item()}


# -------------------------------------------------------------------- retrieval, label efficiency

@torch.no_grad()
def nearest_neighbours(query_feats: torch.Tensor, bank_feats: torch.Tensor, k: int = 5,
                       exclude_self: bool = False, chunk: int = 1024) -> tuple[torch.Tensor, torch.Tensor]:
    """The ``k`` most cosine-similar bank rows of every query: ``(similarity, index)``, each (N, k),
    most similar first. Shapes: queries (N, D), bank (M, D).

    ``exclude_self``: the queries ARE the bank (same rows, same order) and a row may not retrieve itself.
    """
    check_positive("k", k)
    if query_feats.dim() != 2 or bank_feats.dim() != 2 or query_feats.shape[1] != bank_feats.shape[1]:
        raise ValueError(f"queries (N, D) and bank (M, D) must share D, got {tuple(query_feats.shape)} "
                         f"and {tuple(bank_feats.shape)}")
    if exclude_self and len(query_feats) != len(bank_feats):
        raise ValueError("exclude_self=True needs the queries to be the bank (same number of rows)")
    if k > len(bank_feats) - int(exclude_self):
        raise ValueError(f"k={k} but the bank has only {len(bank_feats) - int(exclude_self)} candidates")
    bank = F.normalize(bank_feats.float(), dim=1)
    sims, idxs = [], []
    for i in range(0, len(query_feats), chunk):
        q = F.normalize(query_feats[i:i + chunk].float().to(bank.device), dim=1)
        s = q @ bank.T
        if exclude_self:
            rows = torch.arange(len(q), device=s.device)
            s[rows, rows + i] = -float("inf")
        v, j = s.topk(k, dim=1)
        sims.append(v)
        idxs.append(j)
    return torch.cat(sims), torch.cat(idxs)


@torch.no_grad()
def predict(model: nn.Module, images: torch.Tensor, transform, batch_size: int = 1024) -> torch.Tensor:
    """Class predictions (N,) on the CPU of a classifier ``model`` (images -> logits) for uint8 ``images``;
    ``transform`` is the evaluation transform (e.g. ``for_dataset(name).normalize``)."""
    return extract_features(model, images, transform, batch_size=batch_size).argmax(1).cpu()


def accuracy(y_true, y_pred) -> float:
    """Fraction of equal entries of two label vectors (tensors or arrays) of the same length."""
    a, b = np.asarray(torch.as_tensor(y_true).cpu()), np.asarray(torch.as_tensor(y_pred).cpu())
    if a.shape != b.shape:
        raise ValueError(f"y_true has shape {a.shape} but y_pred has {b.shape}")
    return float((a == b).mean())


def label_efficiency(methods: dict, labels, budgets=(1, 10, 100, None), seed: int = 0,
                     progress: bool = True) -> dict:
    """Accuracy against the number of labels, for several ways to use them.

    ``methods``: {name: fn(idx) -> accuracy}, where ``idx`` (sorted indices into ``labels``)
    are the labelled training examples a method may use. ``budgets``: labels per class (exactly k
    of every class, :func:`sslkit.data.k_per_class`), ``None`` meaning every label. For one seed
    the subsets are nested (the 10 of a class include its 1). Returns
    ``{"budgets", "n_labels", "acc": {name: [acc per budget]}, "seconds": {name: [...]}}``.
    """
    import time

    y = _labels(labels)
    if not methods:
        raise ValueError("methods is empty: give {name: fn(idx) -> accuracy}")
    for b in budgets:
        if b is not None:
            check_positive("labels per class", b)
    out = {"budgets": list(budgets), "n_labels": [], "acc": {m: [] for m in methods},
           "seconds": {m: [] for m in methods}}
    bar = tqdm(total=len(budgets) * len(methods), desc="label efficiency", disable=not progress)
    for b in budgets:
        idx = torch.arange(len(y)) if b is None else k_per_class(y, b, seed=seed)
        out["n_labels"].append(len(idx))
        for name, fn in methods.items():
            bar.set_postfix_str(f"{name}, {'all' if b is None else b} / class")
            t0 = time.perf_counter()
            out["acc"][name].append(float(fn(idx)))
            out["seconds"][name].append(time.perf_counter() - t0)
            bar.update(1)
    bar.close()
    return out
