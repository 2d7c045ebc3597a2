"""After pretraining: parameter-efficient fine-tuning, few-shot prototypes, continual learning.

    enc = peft_encoder(encoder, "lora", rank=4)        # a copy: frozen base, trainable low-rank A, B
    out = adapt(encoder, "lora", x, y, cfg, steps=200)  # sslkit.finetune.fine_tune on what is left trainable
    pred = prototype_predict(support_f, support_y, query_f)          # nearest class mean, cosine
    R = continual_learning(encoder, x, y, test_x, test_y, class_incremental_tasks(10, 2), cfg)["class_il"]
    average_accuracy(R), forgetting(R)                               # R[i, j]: task j after training task i

Freezing here means *turning a parameter into a buffer* (:func:`freeze`): the network computes the
same function and saves the same state_dict keys, but ``parameters()`` -- what optimisers,
weight decay and ``requires_grad_`` see -- holds only what trains. So the one fine-tuning loop
(:func:`sslkit.finetune.fine_tune` with ``trainable="all"``) trains every variant, and a trained
parameter count is ``sum(p.numel() for p in model.parameters())``.
"""
from __future__ import annotations

import copy
import dataclasses
import math
import time
from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from sslkit.augment import supervised
from sslkit.checks import check_choice, check_positive, resolve_device
from sslkit.data import DeviceLoader, _labels, k_per_class
from sslkit.evaluate import extract_features
from sslkit.finetune import Classifier, PartialClassifier, fine_tune
from sslkit.progress import tqdm
from sslkit.train import fit, step_budget

# ------------------------------------------------------------------------------------- freezing


def freeze(module: nn.Module, keep: Callable[[str, nn.Parameter], bool]) -> list[str]:
    """Turn every parameter of ``module`` for which ``keep(name, p)`` is False into a buffer of the
    same name (in place); returns the names of the parameters that remain, i.e. what will train.

    A buffer moves with ``.to()``, is saved in the ``state_dict`` under the same key and is used by
    ``forward`` exactly as before, but no optimiser and no ``requires_grad_(True)`` can reach it."""
    kept = []
    for mod_name, mod in list(module.named_modules()):
        for name, p in list(mod._parameters.items()):
            if p is None:
                continue
            full = f"{mod_name}.{name}" if mod_name else name
            if keep(full, p):
                kept.append(full)
            else:
                del mod._parameters[name]
                mod.register_buffer(name, p.detach())
    return kept


def freeze_batchnorm(module: nn.Module) -> nn.Module:
    """Replace every ``nn.BatchNorm2d`` of ``module`` (in place) by torchvision's
    ``FrozenBatchNorm2d`` with the same affine parameters and running statistics: fixed in
    training mode too, so neither the affine parameters nor the statistics move."""
    from torchvision.ops.misc import FrozenBatchNorm2d

    for name, child in module.named_children():
        if isinstance(child, nn.BatchNorm2d):
            if not child.track_running_stats or not child.affine:
                raise ValueError(f"{name}: only affine BatchNorm2d with running statistics can be frozen")
            frozen = FrozenBatchNorm2d(child.num_features, eps=child.eps).to(child.weight.device)
            for key in ("weight", "bias", "running_mean", "running_var"):
                getattr(frozen, key).copy_(getattr(child, key).detach())
            setattr(module, name, frozen)
        else:
            freeze_batchnorm(child)
    return module


def count_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of scalars in ``module.parameters()`` (those with ``requires_grad`` when ``trainable_only``)."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# ----------------------------------------------------------------------------------------- LoRA


class LoRA(nn.Module):
    """Low-rank adapter around a frozen ``nn.Linear`` or ``nn.Conv2d`` (Hu et al. 2021, "LoRA:
    Low-Rank Adaptation of Large Language Models").

    The layer computes with the weight W' = W + (alpha / r) * B A, where W (out, in) is the base
    weight, frozen (a buffer), A (r, in) and B (out, r) are the only trainable parameters, A drawn
    like a layer's weight (Kaiming uniform) and B zero, so at initialisation W' = W and the wrapped
    layer equals the base exactly. For a convolution W (out, in/groups, kh, kw) is flattened to
    (out, in/groups * kh * kw) and B A reshaped back. Trainable scalars: r * (in + out) instead of
    in * out. ``merge()`` returns a plain layer with W' (no extra cost at inference).

    The adapted weight is formed at every forward: cheap for these layers, and the same arithmetic
    as the merged layer, so both agree to rounding.
    """

    def __init__(self, base: nn.Module, rank: int = 4, alpha: float | None = None):
        super().__init__()
        if not isinstance(base, (nn.Linear, nn.Conv2d)):
            raise ValueError(f"LoRA wraps nn.Linear or nn.Conv2d, got {type(base).__name__}")
        if isinstance(base, nn.Conv2d) and base.padding_mode != "zeros":
            raise ValueError(f"LoRA supports zero-padded convolutions only, got padding_mode={base.padding_mode!r}")
        check_positive("rank", rank)
        alpha = float(rank if alpha is None else alpha)
        check_positive("alpha", alpha, integer=False)
        self.base = copy.deepcopy(base)
        freeze(self.base, keep=lambda name, p: False)  # W and its bias: buffers
        out_dim, fan_in = self.base.weight.shape[0], self.base.weight[0].numel()
        if rank > min(out_dim, fan_in):
            raise ValueError(f"rank {rank} exceeds min(out, in) = {min(out_dim, fan_in)} of {base}")
        w = self.base.weight
        self.lora_A = nn.Parameter(torch.empty(rank, fan_in, device=w.device, dtype=w.dtype))
        self.lora_B = nn.Parameter(torch.zeros(out_dim, rank, device=w.device, dtype=w.dtype))
        nn.init.kaiming_uniform_(self.lora_A, a=math.sqrt(5))
        self.rank, self.alpha, self.scale = rank, alpha, alpha / rank

    def merged_weight(self) -> torch.Tensor:
        """W + (alpha / r) * B A, in the base weight's shape."""
        w = self.base.weight
        return w + self.scale * (self.lora_B @ self.lora_A).view(w.shape)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b = self.base
        if isinstance(b, nn.Linear):
            return F.linear(x, self.merged_weight(), b.bias)
        return F.conv2d(x, self.merged_weight(), b.bias, b.stride, b.padding, b.dilation, b.groups)

    @torch.no_grad()
    def merge(self) -> nn.Module:
        """A plain ``nn.Linear`` / ``nn.Conv2d`` (all parameters trainable again) computing the same function."""
        layer = copy.deepcopy(self.base)
        for name in ("weight", "bias"):
            t = getattr(layer, name)
            if t is None:
                continue
            del layer._buffers[name]
            layer.register_parameter(name, nn.Parameter(self.merged_weight().clone() if name == "weight" else t.clone()))
        return layer

    def extra_repr(self) -> str:
        return f"rank={self.rank}, alpha={self.alpha:g}"


def add_lora(module: nn.Module, rank: int = 4, alpha: float | None = None) -> nn.Module:
    """Wrap every ``nn.Conv2d`` and ``nn.Linear`` of ``module`` (in place) in :class:`LoRA`; returns it."""
    for name, child in module.named_children():
        if isinstance(child, (nn.Conv2d, nn.Linear)):
            setattr(module, name, LoRA(child, rank, alpha))
        elif not isinstance(child, LoRA):
            add_lora(child, rank, alpha)
    return module


def merge_lora(module: nn.Module) -> nn.Module:
    """Replace every :class:`LoRA` of ``module`` (in place) by its merged plain layer; returns it."""
    for name, child in module.named_children():
        if isinstance(child, LoRA):
            setattr(module, name, child.merge())
        else:
            merge_lora(child)
    return module


# ------------------------------------------------------------------------ fine-tuning variants

VARIANTS = ("head", "batchnorm", "lora", "last-block", "full")
_FINE_TUNE_MODE = {"head": "none", "last-block": "last"}  # sslkit.finetune.fine_tune's ``trainable``; else "all"


def peft_encoder(encoder: nn.Module, variant: str, rank: int = 4, alpha: float | None = None) -> nn.Module:
    """A copy of ``encoder`` of which only the part ``variant`` trains stays a parameter:

    - ``"batchnorm"``: only the BatchNorm affine parameters (gamma, beta); every convolution and linear
      weight is frozen. The BatchNorm statistics are re-estimated on the new data (they follow the
      module's train/eval mode, as in fine-tuning).
    - ``"lora"``: only the :class:`LoRA` factors A, B of every convolution and linear layer; the base
      weights and the BatchNorm layers (affine parameters *and* statistics) are frozen.
    - ``"head"``, ``"last-block"``, ``"full"``: a plain copy; :func:`sslkit.finetune.fine_tune`'s
      ``trainable`` = "none", "last", "all" freezes what these leave out.
    """
    check_choice("variant", variant, VARIANTS)
    enc = copy.deepcopy(encoder)
    if variant == "batchnorm":
        bn = {f"{name}.{p}".lstrip(".") for name, m in enc.named_modules()
              if isinstance(m, nn.modules.batchnorm._BatchNorm) for p in ("weight", "bias")}
        kept = freeze(enc, keep=lambda name, p: name in bn)
        if not kept:
            raise ValueError(f"a {type(encoder).__name__} has no BatchNorm affine parameters to train")
    elif variant == "lora":
        freeze_batchnorm(enc)
        add_lora(enc, rank, alpha)
        freeze(enc, keep=lambda name, p: name.rsplit(".", 1)[-1] in ("lora_A", "lora_B"))
    return enc


def variant_classifier(encoder: nn.Module, variant: str, num_classes: int, rank: int = 4,
                       alpha: float | None = None) -> nn.Module:
    """The classifier (a copy of ``encoder`` + a linear head) that fine-tuning ``variant`` trains, before
    training: ``count_parameters`` of it is the variant's number of trained parameters."""
    check_choice("variant", variant, VARIANTS)
    return PartialClassifier(peft_encoder(encoder, variant, rank, alpha), num_classes,
                             _FINE_TUNE_MODE.get(variant, "all"))


def adapt(encoder: nn.Module, variant: str, images: torch.Tensor, labels: torch.Tensor, cfg, *,
          rank: int = 4, alpha: float | None = None, **fine_tune_kwargs) -> dict:
    """Fine-tune ``variant`` of ``encoder`` (see :data:`VARIANTS`) with :func:`sslkit.finetune.fine_tune`:
    the same loop, augmentation, steps and learning rate for every variant; only what trains differs.
    Returns fine_tune's dict (``model``, ``history``, ``trainable_params``, ``total_params``);
    ``total_params`` counts frozen weights too."""
    check_choice("variant", variant, VARIANTS)
    enc = peft_encoder(encoder, variant, rank, alpha)
    out = fine_tune(enc, images, labels, cfg, trainable=_FINE_TUNE_MODE.get(variant, "all"), copy=False,
                    **fine_tune_kwargs)
    model = out["model"]
    out["total_params"] = (sum(p.numel() for p in model.parameters())
                           + sum(b.numel() for name, b in model.named_buffers() if _is_weight(name)))
    return out


def _is_weight(buffer_name: str) -> bool:
    """A frozen weight or bias (not a BatchNorm statistic)."""
    return buffer_name.rsplit(".", 1)[-1] in ("weight", "bias")


# --------------------------------------------------------------------------------- few-shot


def prototypes(feats: torch.Tensor, labels: torch.Tensor, num_classes: int | None = None,
               center: torch.Tensor | None = None) -> torch.Tensor:
    """Class prototypes (num_classes, D): the mean of the L2-normalised features of each class
    (Snell et al. 2017, "Prototypical networks"; SimpleShot, Wang et al. 2019). ``center`` (D,),
    e.g. the mean feature of unlabelled data, is subtracted first: ReLU features all point into one
    orthant, and centring spreads them out before the cosine. A class without examples is an error."""
    if feats.dim() != 2 or labels.dim() != 1 or len(feats) != len(labels):
        raise ValueError(f"feats (N, D) and labels (N,) must match, got {tuple(feats.shape)} and {tuple(labels.shape)}")
    labels = labels.to(feats.device).long()
    k = int(labels.max()) + 1 if num_classes is None else num_classes
    counts = torch.bincount(labels, minlength=k)
    if (counts == 0).any():
        raise ValueError(f"no support example for class(es) {torch.nonzero(counts == 0).flatten().tolist()}")
    u = _unit(feats, center)
    protos = torch.zeros(k, u.shape[1], device=u.device).index_add_(0, labels, u) / counts[:, None]
    return F.normalize(protos, dim=1)


def prototype_predict(support_feats: torch.Tensor, support_labels: torch.Tensor, query_feats: torch.Tensor,
                      center: torch.Tensor | None = None) -> torch.Tensor:
    """Nearest class mean: each query (M, D) gets the class whose prototype is the most cosine-similar.
    Shapes: support (N, D), labels (N,), queries (M, D) -> predictions (M,)."""
    protos = prototypes(support_feats, support_labels, center=center)
    return (_unit(query_feats.to(protos.device), center) @ protos.T).argmax(1)


def _unit(feats, center):
    x = feats.float()
    return F.normalize(x - center.to(x.device) if center is not None else x, dim=1)


def few_shot(pool_feats, pool_labels, test_feats, test_labels, ks=(1, 5, 10), seeds=range(5),
             center=None) -> dict:
    """Nearest-class-mean accuracy on ``test_feats`` with ``k`` labelled examples per class drawn from
    the pool (:func:`sslkit.data.k_per_class` with each seed). Returns ``{k: [accuracy per seed]}``."""
    out = {}
    for k in ks:
        check_positive("k", k)
        out[k] = []
        for s in seeds:
            idx = k_per_class(pool_labels.cpu(), k, seed=s).to(pool_feats.device)
            pred = prototype_predict(pool_feats[idx], pool_labels[idx], test_feats, center)
            out[k].append((pred.cpu() == test_labels.cpu()).float().mean().item())
    return out


# ------------------------------------------------------------------------ continual learning


def class_incremental_tasks(num_classes: int = 10, classes_per_task: int = 2, seed: int | None = None) -> list:
    """Split the classes 0..num_classes-1 into consecutive tasks of ``classes_per_task`` classes
    (in label order, or shuffled with ``seed``): ``[(0, 1), (2, 3), ...]``."""
    check_positive("num_classes", num_classes)
    check_positive("classes_per_task", classes_per_task)
    if num_classes % classes_per_task:
        raise ValueError(f"{num_classes} classes do not split into tasks of {classes_per_task}")
    order = list(range(num_classes)) if seed is None else \
        torch.randperm(num_classes, generator=torch.Generator().manual_seed(seed)).tolist()
    return [tuple(order[i:i + classes_per_task]) for i in range(0, num_classes, classes_per_task)]


class ReplayBuffer:
    """A fixed-size memory of past (image, label) pairs filled by reservoir sampling (Vitter 1985;
    experience replay as in Chaudhry et al. 2019, "On tiny episodic memories in continual learning").

    After ``n`` examples have streamed through ``add``, every one of them is in the memory with the
    same probability capacity / n, whatever task it came from: the memory's class proportions follow
    the stream's, without knowing the tasks. ``sample(m)`` draws m stored examples uniformly.
    """

    def __init__(self, capacity: int, seed: int = 0):
        check_positive("capacity", capacity)
        self.capacity, self.seen = capacity, 0
        self.images: torch.Tensor | None = None
        self.labels: torch.Tensor | None = None
        self._rng = torch.Generator().manual_seed(seed)

    def __len__(self) -> int:
        return 0 if self.images is None else min(self.seen, self.capacity)

    def add(self, images: torch.Tensor, labels: torch.Tensor) -> None:
        if len(images) != len(labels):
            raise ValueError(f"{len(images)} images but {len(labels)} labels")
        if self.images is None:
            self.images = images.new_zeros((self.capacity, *images.shape[1:]))
            self.labels = labels.new_zeros(self.capacity)
        for i in range(len(images)):
            if self.seen < self.capacity:
                slot = self.seen
            else:  # keep the new example with probability capacity / (seen + 1), in a random slot
                slot = int(torch.randint(self.seen + 1, (1,), generator=self._rng))
            if slot < self.capacity:
                self.images[slot], self.labels[slot] = images[i], labels[i]
            self.seen += 1

    def sample(self, n: int, generator: torch.Generator | None = None):
        """``n`` stored (image, label) pairs drawn uniformly with replacement, on the buffer's device."""
        if len(self) == 0:
            raise ValueError("the replay buffer is empty")
        dev = generator.device if generator is not None else self.images.device
        idx = torch.randint(len(self), (n,), generator=generator, device=dev).to(self.images.device)
        return self.images[idx], self.labels[idx]


def average_accuracy(R) -> float:
    """A_T = (1/T) sum_j R[T-1, j]: mean accuracy over all T tasks after the last one was learnt.
    ``R[i, j]`` is the accuracy on task j after training on tasks 0..i (a (T, T) matrix)."""
    R = _matrix(R)
    return float(R[-1].mean())


def forgetting(R) -> float:
    """F_T = (1/(T-1)) sum_{j<T-1} max_{l<T-1} (R[l, j] - R[T-1, j]): how far each earlier task fell
    from its best accuracy (Chaudhry et al. 2018, "Riemannian walk for incremental learning").
    0: nothing forgotten; at most the best earlier accuracy of a task, if it is now 0; negative if
    later tasks improved the earlier ones."""
    R = _matrix(R)
    T = len(R)
    if T < 2:
        return 0.0
    return float(np.mean([R[:T - 1, j].max() - R[T - 1, j] for j in range(T - 1)]))


def backward_transfer(R) -> float:
    """BWT = (1/(T-1)) sum_{j<T-1} (R[T-1, j] - R[j, j]) (Lopez-Paz & Ranzato 2017, GEM): negative
    when learning later tasks hurt earlier ones."""
    R = _matrix(R)
    T = len(R)
    return 0.0 if T < 2 else float(np.mean([R[T - 1, j] - R[j, j] for j in range(T - 1)]))


def _matrix(R) -> np.ndarray:
    R = np.asarray(R, dtype=float)
    if R.ndim != 2 or R.shape[0] != R.shape[1] or R.size == 0:
        raise ValueError(f"an accuracy matrix must be square (T, T), got shape {R.shape}")
    return R


def continual_learning(encoder: nn.Module, images: torch.Tensor, labels: torch.Tensor, test_images: torch.Tensor,
                       test_labels: torch.Tensor, tasks: list, cfg, *, steps_per_task: int = 50,
                       batch_size: int = 64, lr: float = 1e-3, replay: int = 0, replay_batch: int | None = None,
                       progress: bool = True, desc: str = "continual") -> dict:
    """Learn ``tasks`` (tuples of classes) one after another with one classifier (a copy of ``encoder``
    + one linear head over every class), fine-tuning everything, and test after each task.

    Each task trains ``steps_per_task`` steps of ``batch_size`` of its own images (the recipe of
    :func:`sslkit.finetune.fine_tune`: crop 0.5-1 and flip, AdamW, cosine within the task). With
    ``replay`` > 0, a :class:`ReplayBuffer` of that many images sees every training batch and adds
    ``replay_batch`` (default ``batch_size``) remembered images to each step: experience replay.

    Returns ``{"class_il", "task_il", "seconds"}``: two (T, T) matrices R[i, j], the accuracy on the
    test images of task j after training task i. Class-incremental: the prediction is the argmax over
    all classes (the task is not known at test time). Task-incremental: over task j's classes only.
    """
    labels, test_labels = _labels(labels), _labels(test_labels)
    check_positive("steps_per_task", steps_per_task)
    check_positive("batch_size", batch_size)
    check_positive("replay", replay, allow_zero=True)
    classes = [c for t in tasks for c in t]
    if not tasks or len(set(classes)) != len(classes):
        raise ValueError(f"tasks must be non-empty tuples of distinct classes, got {tasks}")
    device = resolve_device(cfg.device)
    torch.manual_seed(cfg.seed)
    model = Classifier(copy.deepcopy(encoder), int(max(classes)) + 1).to(device)
    fmt = torch.channels_last if cfg.channels_last else torch.contiguous_format
    model = model.to(memory_format=fmt)
    augment = supervised(cfg.spec())
    buffer = ReplayBuffer(replay, seed=cfg.seed) if replay else None
    n_replay = replay_batch or batch_size
    test_sets = [torch.isin(test_labels, torch.tensor(t)) for t in tasks]
    T = len(tasks)
    R_class, R_task = np.zeros((T, T)), np.zeros((T, T))
    t0 = time.perf_counter()
    bar = tqdm(total=T * steps_per_task, desc=desc, unit="step", disable=not progress)
    for i, task in enumerate(tasks):
        keep = torch.isin(labels, torch.tensor(task))
        x, y = images[keep], labels[keep]
        run = dataclasses.replace(cfg, batch_size=min(batch_size, len(x)), lr=lr, warmup_epochs=0.0, out=None,
                                  seed=cfg.seed + 1000 * i, log_every=steps_per_task)
        run = dataclasses.replace(run, **step_budget(run, len(x), steps_per_task))
        loader = DeviceLoader(x, y, batch_size=run.batch_size, device=device, shuffle=True, drop_last=True,
                              seed=run.seed)

        def step_loss(xb, yb, g):
            if buffer is not None:
                if len(buffer):
                    xr, yr = buffer.sample(n_replay, generator=g)
                    buffer.add(xb, yb)  # after sampling: replayed images are from earlier steps
                    xb, yb = torch.cat([xb, xr]), torch.cat([yb, yr])
                else:
                    buffer.add(xb, yb)
            bar.update(1)
            return F.cross_entropy(model(augment(xb, generator=g).contiguous(memory_format=fmt)), yb)

        fit(model, step_loss, loader, run, f"{desc}-task{i}", progress=False)
        logits = extract_features(model, test_images, augment.normalize).cpu()
        for j, tj in enumerate(tasks):
            lj, yj = logits[test_sets[j]], test_labels[test_sets[j]]
            R_class[i, j] = (lj.argmax(1) == yj).float().mean().item()
            cols = torch.tensor(tj)
            R_task[i, j] = (cols[lj[:, cols].argmax(1)] == yj).float().mean().item()
    bar.close()
    model.eval()
    return {"class_il": R_class, "task_il": R_task, "seconds": time.perf_counter() - t0, "model": model,
            "buffer": buffer}
