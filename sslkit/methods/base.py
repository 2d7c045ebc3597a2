"""The method interface, the registry every tool reads, and the momentum-teacher base.

    class MyMethod(Method):            # defining the class registers it: METHODS["mymethod"]
        name, display_name, family = "mymethod", "MyMethod", "contrastive"
        def forward(self, x1, x2): ...
    loss = method(*method.views("cifar10")(x, generator=g))

Everything the rest of the kit needs to know about a method is on its class, so adding one edits
no shared table: ``config.resolve("full", method=...)`` applies :attr:`Method.full_recipe`,
``compare`` prints :attr:`Method.family`, the result tables print :attr:`Method.display_name`,
the training loop asks :meth:`Method.views` for the views and passes them back to ``forward``.
"""
from __future__ import annotations

import copy
import math

import torch
from torch import nn

from sslkit.augment import Views, for_dataset
from sslkit.checks import check_number

METHODS: dict[str, type["Method"]] = {}   # name -> class, in registration (import) order

# lightly's CIFAR-10 benchmark (docs/.../benchmarks/cifar10_benchmark.py, 18.02.2022; ResNet-18, batch 512,
# SGD momentum 0.9, weight decay 5e-4, lr 0.06 x batch / 128, cosine; kNN k=200, t=0.1): the source of
# the joint-embedding methods' full recipes, and their published kNN after 200 / 800 epochs.
LIGHTLY_CIFAR10 = "lightly CIFAR-10 benchmark (ResNet-18, batch 512, SGD lr 0.06 x batch / 128, wd 5e-4, cosine)"


class Method(nn.Module):
    """Base class of every self-supervised method: ``loss = method(*views)``; ``encoder`` is the backbone
    being trained (the representation kept afterwards).

    A method owns its heads, target networks and queues as submodules and buffers, so ``state_dict()``
    (a checkpoint, an exact resume) covers all of it. Class attributes a subclass sets:

    - ``name``: the registry key (``--method``); a class that sets it is registered on definition.
    - ``display_name``, ``family``, ``paper``: what tables and docs print.
    - ``HPARAMS``: the :class:`~sslkit.config.PretrainConfig` fields its constructor takes
      (:meth:`config_hparams` may derive more, e.g. the image size of a decoder).
    - ``full_recipe``: changes to the ``full`` profile for this method, and ``recipe_source``: where
      they come from (a benchmark, a paper, a config file).
    - ``augment_overrides``: changes to the dataset's augmentation for every view; ``n_views``: how
      many views of that augmentation :meth:`views` makes (override :meth:`views` for views that
      differ, e.g. asymmetric or multi-crop views).
    - ``needs_generator``: the loop then calls ``forward(*views, generator=g)`` with the step's seeded
      generator, so the method's own randomness (masks, noise) repeats on resume.
    """

    name: str = ""
    display_name: str = ""
    family: str = ""
    paper: str = ""
    HPARAMS: tuple[str, ...] = ()
    full_recipe: dict = {}
    recipe_source: str = ""
    augment_overrides: dict = {}
    n_views: int = 2
    needs_generator: bool = False

    def __init_subclass__(cls, **kwargs):
        super().__init_subclass__(**kwargs)
        if "name" in cls.__dict__ and cls.name:  # a concrete method names itself
            taken = METHODS.get(cls.name)
            if taken is not None and taken.__qualname__ != cls.__qualname__:  # (a reloaded module may redefine)
                raise ValueError(f"method name {cls.name!r} is taken by {taken.__qualname__}")
            METHODS[cls.name] = cls

    def __init__(self, encoder: nn.Module):
        super().__init__()
        self.encoder = encoder

    @classmethod
    def config_hparams(cls, cfg) -> dict:
        """Constructor arguments taken from a PretrainConfig: the fields named in ``HPARAMS``."""
        return {k: getattr(cfg, k) for k in cls.HPARAMS}

    def views(self, dataset) -> Views:
        """The views of a batch that ``forward`` takes, in order: ``n_views`` draws of the dataset's
        augmentation with ``augment_overrides`` (one call each). ``dataset``: a name or a
        :class:`~sslkit.data.DataSpec` (an image folder's size, channels and statistics)."""
        aug = for_dataset(dataset, **self.augment_overrides)
        return Views([(aug, 1)] * self.n_views)

    def on_step(self, step: int, total_steps: int) -> None:
        """Called after optimiser step ``step`` (0-based) of ``total_steps`` (EMA updates live here).

        Must be a pure function of (weights, step), so that a resumed run repeats it exactly.
        """


def features_of(encoder: nn.Module) -> int:
    """The encoder's output width (``feature_dim``), which every head is sized from."""
    dim = getattr(encoder, "feature_dim", None)
    if not isinstance(dim, int):
        raise ValueError("encoder must have an integer feature_dim attribute (see sslkit.models.build_backbone)")
    return dim


@torch.no_grad()
def ema_update(target: nn.Module, online: nn.Module, momentum: float) -> None:
    """target <- momentum * target + (1 - momentum) * online, parameter by parameter (buffers untouched).

    BYOL Eq. (1) / MoCo Eq. (2). The target's BatchNorm running statistics are left to its own
    forward passes (it runs in train mode, on batch statistics), as lightly and solo-learn do.
    """
    t = list(target.parameters())
    o = [p.detach() for p in online.parameters()]
    if len(t) != len(o):
        raise ValueError(f"target has {len(t)} parameters but online has {len(o)}")
    torch._foreach_lerp_(t, o, 1.0 - momentum)


def cosine_momentum(step: int, total_steps: int, base: float, final: float = 1.0) -> float:
    """BYOL's schedule: tau_k = final - (final - base) * (cos(pi k / K) + 1) / 2, from base at k=0 to final at k=K."""
    k = min(max(step, 0), total_steps)
    return final - (final - base) * (math.cos(math.pi * k / max(1, total_steps)) + 1) / 2


class MomentumTeacher(Method):
    """A method with a teacher (MoCo's key network, BYOL's target, DINO's teacher): frozen copies of
    student modules that follow them by an exponential moving average after every step,

        theta_teacher <- tau theta_teacher + (1 - tau) theta_student,

    with tau = ``momentum`` throughout (``schedule="constant"``, MoCo) or rising from ``momentum``
    to 1 by :func:`cosine_momentum` (``"cosine"``, BYOL and DINO). Subclasses create each teacher
    with :meth:`add_teacher`; :meth:`on_step` updates them all.
    """

    schedule = "cosine"

    def __init__(self, encoder: nn.Module, momentum: float):
        super().__init__(encoder)
        self.momentum = check_number("momentum", momentum, 0.0, 1.0, high_open=True)
        self._pairs: list[tuple[str, str]] = []  # (teacher attribute, student attribute)

    def add_teacher(self, name: str, student: str) -> nn.Module:
        """``self.<name>``: a frozen copy of ``self.<student>`` that :meth:`on_step` keeps as its EMA."""
        teacher = copy.deepcopy(getattr(self, student))
        teacher.requires_grad_(False)
        setattr(self, name, teacher)
        self._pairs.append((name, student))
        return teacher

    def teacher_momentum(self, step: int, total_steps: int) -> float:
        """tau after optimiser step ``step`` of ``total_steps``."""
        if self.schedule == "constant":
            return self.momentum
        return cosine_momentum(step, total_steps, self.momentum)

    def on_step(self, step: int, total_steps: int) -> None:
        tau = self.teacher_momentum(step, total_steps)
        for teacher, student in self._pairs:
            ema_update(getattr(self, teacher), getattr(self, student), tau)
