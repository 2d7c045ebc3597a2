"""The `full` profile's per-method recipes, run for a few steps on the CPU.

The recipes themselves are GPU runs (200 epochs of ResNet-18 on CIFAR-10; scripts/gpu_check.sh with
SSLKIT_GPU_CHECK_METHOD). What the CPU can check is that each one builds the network it describes
(ResNet-18 on 32 px colour views, the recipe's projector sizes) and trains with the recipe's
optimiser: a finite loss, every trained part updated by one step. Synthetic images stand in for CIFAR-10.
"""
import pytest
import torch

from sslkit import train
from sslkit.config import resolve
from sslkit.methods import METHODS


@pytest.mark.parametrize("method", sorted(METHODS))
def test_full_recipe_trains_resnet18_on_cifar_sized_views(method):
    torch.manual_seed(0)
    cfg = resolve("full", method=method, device="cpu", channels_last=False)
    assert (cfg.backbone, cfg.dataset, cfg.epochs) == ("resnet18", "cifar10", 200)
    model = train.build_model(cfg, "cpu")
    opt = train.build_optimizer(model, cfg)
    assert type(opt).__name__.lower() == cfg.optimizer
    if cfg.optimizer == "adamw":
        assert all(tuple(g["betas"]) == cfg.betas for g in opt.param_groups)
    if hasattr(model, "projector"):  # the recipe's projector widths reach the model
        widths = [m.out_features for m in model.projector.modules() if isinstance(m, torch.nn.Linear)]
        assert cfg.proj_hidden in widths, (widths, cfg.proj_hidden)
    views = model.views(cfg.dataset)
    views_loss = train.views_loss_fn(model, cfg, torch.device("cpu"))
    images = torch.randint(0, 256, (8, 3, 32, 32), dtype=torch.uint8)
    before = {n: p.detach().clone() for n, p in model.named_parameters()}
    g = train.step_generator(cfg.seed, 0, torch.device("cpu"))
    for group in opt.param_groups:  # the recipe's peak lr, not the warm-up's first tiny step
        group["lr"] = cfg.lr
    loss = views_loss(views(images, generator=g), g)
    assert torch.isfinite(loss), (method, loss)
    train.optimizer_step(model, opt, loss, 0, 100)
    trained = {n: p for n, p in model.named_parameters() if p.requires_grad}
    moved = [n for n, p in trained.items() if not torch.equal(before[n], p)]
    assert any(n.startswith("encoder.") for n in moved)
    # every trained tensor moved, except those a step may leave alone (biases before BatchNorm)
    assert len(moved) >= 0.9 * len(trained), sorted(set(trained) - set(moved))[:10]
