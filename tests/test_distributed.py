"""Data-parallel pretraining (sslkit.distributed) on CPU: 2 processes, gloo backend.

The claims of docs/scaling-out.md, each against one process with the global batch:
(a) the gathered losses and their gradients, (b) DDP training steps, (c) resuming a 2-process
checkpoint in 1 process, and the torchrun command line. The workers run once, in W processes
started by torch.multiprocessing (most of the time goes into starting Python and importing torch),
and save what they computed; the asserts run here.
"""
import copy
import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import pytest
import torch
import torch.multiprocessing as mp
from torch import nn

import sslkit.train as train
from sslkit import distributed
from sslkit.config import resolve
from sslkit.data import DeviceLoader, ShardedLoader, training_loader
from sslkit.io import load_checkpoint
from sslkit.losses import barlow_twins_loss, nt_xent, vicreg_loss
from sslkit.methods import DINO, METHODS, MoCo, SimCLR
from sslkit.models import build_backbone

REPO = Path(__file__).resolve().parent.parent
W = 2  # processes
N = 8  # global batch of the loss tests (4 pairs per rank)
TINY = ["--width", "4", "--batch-size", "32", "--train-subset", "256", "--device", "cpu", "--protocols", "none",
        "--no-progress"]  # a command-line run of seconds


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _entry(rank, port, fn, args):
    os.environ.update(RANK=str(rank), WORLD_SIZE=str(W), LOCAL_RANK=str(rank), MASTER_ADDR="127.0.0.1",
                      MASTER_PORT=str(port))
    torch.set_num_threads(1)
    dist = distributed.setup("cpu")  # the same set-up torchrun's environment gets
    try:
        fn(dist, *args)
    finally:
        distributed.teardown()


def spawn(fn, *args):
    """Run ``fn(dist, *args)`` in W processes that form a gloo process group."""
    mp.spawn(_entry, args=(_free_port(), fn, args), nprocs=W, join=True)


def embeddings(d=6):
    g = torch.Generator().manual_seed(0)
    return torch.randn(N, d, generator=g), torch.randn(N, d, generator=g)


def mine(x, rank):
    """This rank's rows of a global batch, as a leaf that collects its gradient."""
    n = len(x) // W
    return x[rank * n:(rank + 1) * n].clone().requires_grad_(True)


def loss_and_grads(loss_fn, z1, z2):
    loss = loss_fn(z1, z2)
    loss.backward()
    return loss.detach(), z1.grad, z2.grad


# ------------------------------------------------------------------------------- (a) gathered losses

def _plain_all_gather(x):
    """What a plain torch.distributed.all_gather gives: the other ranks' rows are constants."""
    parts = [torch.empty_like(x) for _ in range(W)]
    torch.distributed.all_gather(parts, x.detach())
    parts[torch.distributed.get_rank()] = x  # the usual patch: at least the own rows keep their gradient
    return torch.cat(parts)


def _pytorch_all_gather(x):
    import torch.distributed.nn.functional as dnn

    return torch.cat(dnn.all_gather(x))


def _losses_worker(dist, out):
    z1, z2 = embeddings()
    result = {}
    for name, fn in {"nt_xent": lambda a, b: nt_xent(a, b, 0.5, gather_distributed=True),
                     "barlow": lambda a, b: barlow_twins_loss(a, b, 5e-3, gather_distributed=True),
                     "vicreg": lambda a, b: vicreg_loss(a, b, gather_distributed=True)}.items():
        result[name] = loss_and_grads(fn, mine(z1, dist.rank), mine(z2, dist.rank))
    real = distributed.gather
    for name, fake in (("plain", _plain_all_gather), ("pytorch", _pytorch_all_gather)):
        distributed.gather = fake
        try:
            result[f"nt_xent_{name}_gather"] = loss_and_grads(lambda a, b: nt_xent(a, b, 0.5, gather_distributed=True),
                                                              mine(z1, dist.rank), mine(z2, dist.rank))
        finally:
            distributed.gather = real

    # MoCo: every rank enqueues the keys of all ranks, in one process's order.
    torch.manual_seed(0)
    model = MoCo(_no_batchnorm(build_backbone("convnet", 1, width=2)), proj_hidden=8, proj_dim=4, queue_size=16,
                 bn_splits=1)
    g = torch.Generator().manual_seed(1)
    x1, x2 = (torch.rand(4, 1, 8, 8, generator=g) for _ in range(2))
    n = len(x1) // W
    x1, x2 = x1[dist.rank * n:(dist.rank + 1) * n], x2[dist.rank * n:(dist.rank + 1) * n]
    ref = copy.deepcopy(model)
    with torch.no_grad():
        keys = torch.nn.functional.normalize(ref.key_projector(ref.key_encoder(torch.cat([x2, x1]))), dim=1)
    model(x1, x2)
    result["moco"] = {"queue": model.queue.clone(), "ptr": int(model.queue_ptr), "own_keys": keys}
    try:
        MoCo(build_backbone("convnet", 1, width=2), proj_hidden=8, proj_dim=4, queue_size=6)(x1, x2)
    except ValueError as e:
        result["moco_small_queue"] = str(e)
    # DINO: the centre follows the mean teacher output of ALL ranks; its loss is a per-sample mean.
    torch.manual_seed(0)
    dino = _no_batchnorm(DINO(build_backbone("convnet", 1, width=2), proj_hidden=8, proj_dim=4, prototypes=6))
    g = torch.Generator().manual_seed(2)
    views = [torch.rand(4, 1, 8, 8, generator=g) for _ in range(3)]  # 2 global + 1 local, global batch 4
    mine_views = [v[dist.rank * 2:(dist.rank + 1) * 2] for v in views]
    loss = dino(*mine_views)
    loss.backward()
    result["dino"] = {"center": dino.center.clone(), "loss": loss.detach(),
                      "grad": torch.cat([p.grad.flatten() for p in dino.parameters() if p.grad is not None])}
    torch.save(result, out / f"rank{dist.rank}.pt")


def _methods_worker(dist, out):
    """Two DDP steps of every method (the second is where DDP notices parameters without gradients)."""
    result = {}
    for name in METHODS:
        cfg = resolve("quick", method=name, width=2, proj_hidden=8, proj_dim=4, device="cpu", channels_last=False)
        model = train.build_model(cfg)
        forward = dist.wrap(model)
        views = model.views(cfg.dataset)
        g = torch.Generator().manual_seed(dist.rank)  # each rank its own images
        losses = []
        for _ in range(2):
            x = torch.randint(0, 256, (4, 1, 28, 28), dtype=torch.uint8, generator=g)
            extra = {"generator": g} if model.needs_generator else {}
            model.zero_grad()
            loss = forward(*views(x, generator=g), **extra)
            loss.backward()
            losses.append(loss.item())
        grads = torch.cat([p.grad.flatten() for p in model.parameters() if p.grad is not None])
        result[name] = {"losses": losses, "grads": grads}
    torch.save(result, out / f"methods{dist.rank}.pt")


def _worker(dist, out):
    _losses_worker(dist, out)
    _fit_worker(dist, out)
    _methods_worker(dist, out)


@pytest.fixture(scope="module")
def workers(tmp_path_factory):
    """Both workers' results, from one start of W processes."""
    out = tmp_path_factory.mktemp("ddp")
    spawn(_worker, out)
    return out


@pytest.fixture(scope="module")
def gathered(workers):
    return [torch.load(workers / f"rank{r}.pt") for r in range(W)]


def _check_against_big_batch(ranks, key, loss_fn, *, same_loss_everywhere):
    """Rank r's loss and gradient vs one process's on the concatenated batch.

    DDP averages gradients over the W ranks, so (rank r's gradient) / W is what its update uses;
    it must equal the big-batch gradient of rank r's rows. The mean of the ranks' losses is the
    logged loss and must equal the big-batch loss.
    """
    z1, z2 = (z.clone().requires_grad_(True) for z in embeddings())
    loss, g1, g2 = loss_and_grads(loss_fn, z1, z2)
    losses = torch.stack([r[key][0] for r in ranks])
    torch.testing.assert_close(losses.mean(), loss)
    if same_loss_everywhere:
        torch.testing.assert_close(losses, loss.expand(W))
    torch.testing.assert_close(torch.cat([r[key][1] for r in ranks]) / W, g1)
    torch.testing.assert_close(torch.cat([r[key][2] for r in ranks]) / W, g2)


def test_gathered_nt_xent_and_gradients_equal_the_big_batch(gathered):
    _check_against_big_batch(gathered, "nt_xent", lambda a, b: nt_xent(a, b, 0.5), same_loss_everywhere=False)


def test_plain_all_gather_gets_the_gradient_wrong(gathered):
    """The reason for the gradient-keeping gather: without it a rank misses how its rows act as the
    other ranks' negatives, and the update differs from the big-batch one."""
    z1, z2 = (z.clone().requires_grad_(True) for z in embeddings())
    _, g1, _ = loss_and_grads(lambda a, b: nt_xent(a, b, 0.5), z1, z2)
    plain = torch.cat([r["nt_xent_plain_gather"][1] for r in gathered]) / W
    assert not torch.allclose(plain, g1, atol=1e-4)
    losses = torch.stack([r["nt_xent_plain_gather"][0] for r in gathered])
    torch.testing.assert_close(losses, torch.stack([r["nt_xent"][0] for r in gathered]))  # same forward value


def test_gather_matches_pytorch_differentiable_all_gather(gathered):
    for r in gathered:
        for a, b in zip(r["nt_xent"], r["nt_xent_pytorch_gather"]):
            torch.testing.assert_close(a, b)


def test_barlow_twins_and_vicreg_use_the_global_batch(gathered):
    _check_against_big_batch(gathered, "barlow", lambda a, b: barlow_twins_loss(a, b, 5e-3), same_loss_everywhere=True)
    _check_against_big_batch(gathered, "vicreg", vicreg_loss, same_loss_everywhere=True)


def test_moco_enqueues_the_keys_of_all_ranks(gathered):
    queues = [r["moco"]["queue"] for r in gathered]
    torch.testing.assert_close(queues[0], queues[1])  # one queue, everywhere
    assert [r["moco"]["ptr"] for r in gathered] == [8, 8]  # 2 x global batch 4
    n = 2  # pairs per rank; the queue holds [k(x2) of ranks 0, 1, k(x1) of ranks 0, 1]
    for rank, r in enumerate(gathered):
        k2, k1 = r["moco"]["own_keys"].chunk(2)
        torch.testing.assert_close(queues[0][rank * n:(rank + 1) * n], k2)
        torch.testing.assert_close(queues[0][W * n + rank * n:W * n + (rank + 1) * n], k1)
    assert "must be >= 2 * batch_size = 8" in gathered[0]["moco_small_queue"]  # the global batch counts


def test_dino_centre_is_the_global_mean_and_its_gradient_the_big_batch(gathered):
    """One process with the global batch of 4 computes the same centre (on every rank) and, since the
    loss is a per-sample mean, DDP's averaged gradient equals its gradient."""
    torch.manual_seed(0)
    dino = _no_batchnorm(DINO(build_backbone("convnet", 1, width=2), proj_hidden=8, proj_dim=4, prototypes=6))
    g = torch.Generator().manual_seed(2)
    views = [torch.rand(4, 1, 8, 8, generator=g) for _ in range(3)]
    loss = dino(*views)
    loss.backward()
    grad = torch.cat([p.grad.flatten() for p in dino.parameters() if p.grad is not None])
    for r in gathered:
        torch.testing.assert_close(r["dino"]["center"], dino.center)
    torch.testing.assert_close(torch.stack([r["dino"]["loss"] for r in gathered]).mean(), loss.detach())
    torch.testing.assert_close(sum(r["dino"]["grad"] for r in gathered) / W, grad)


# ------------------------------------------------------------------ (b), (c) DDP steps, resume on 1 process

def _no_batchnorm(module: nn.Module) -> nn.Module:
    """BatchNorm -> Identity. Without SyncBatchNorm (CUDA only in PyTorch) each rank normalises with
    its own half of the batch, which by design differs from one process normalising the whole batch;
    on a network without batch statistics the two must agree to float precision."""
    for name, child in module.named_children():
        if isinstance(child, nn.modules.batchnorm._BatchNorm):
            setattr(module, name, nn.Identity())
        else:
            _no_batchnorm(child)
    return module


def tiny_simclr() -> SimCLR:
    torch.manual_seed(0)
    return _no_batchnorm(SimCLR(build_backbone("convnet", 1, width=2), proj_hidden=16, proj_dim=8, temperature=0.5))


def tiny_images() -> torch.Tensor:
    return torch.randint(0, 256, (72, 1, 8, 8), dtype=torch.uint8, generator=torch.Generator().manual_seed(0))


def run_cfg(out=None, **kw):
    """64 images used per epoch (72 // 16 batches of 16, the rest dropped), 2 epochs = 8 steps, SGD."""
    return resolve("quick", batch_size=16, epochs=2, optimizer="sgd", lr=0.1, momentum=0.9, weight_decay=1e-3,
                   warmup_epochs=0.5, log_every=1, device="cpu", channels_last=False,
                   out=None if out is None else str(out), **kw)


def run(dist, cfg, resume=False):
    """Train tiny_simclr on tiny_images the way pretrain() does, with fixed views (a flip) instead of random
    augmentations: the only difference left between W processes and one is then the arithmetic."""
    model = tiny_simclr()
    forward = dist.wrap(model)
    loader = training_loader(tiny_images(), batch_size=cfg.batch_size, device="cpu", seed=cfg.seed, rank=dist.rank,
                             world_size=dist.world_size)

    def step_loss(x, y, g):
        x = x.float() / 255
        return forward(x, x.flip(-1))

    history = train.fit(model, step_loss, loader, cfg, "simclr", resume=resume, progress=False, dist=dist)
    return model, history


class Crash(Exception):
    pass


def _fit_worker(dist, out):
    writes = []
    for name in ("save_checkpoint", "atomic_write_json"):  # count this rank's writes
        real = getattr(train, name)
        setattr(train, name, lambda path, obj, real=real: (writes.append(Path(path).name), real(path, obj))[1])
    run(dist, run_cfg(out / "full"))

    real_generator = train.step_generator

    def crash_at_6(seed, step, device, *rank):  # every rank "dies" in the middle of epoch 2
        if step == 6:
            raise Crash
        return real_generator(seed, step, device, *rank)

    train.step_generator = crash_at_6
    with pytest.raises(Crash):
        run(dist, run_cfg(out / "cut"))
    (out / f"writes{dist.rank}.json").write_text(json.dumps(writes))


@pytest.fixture(scope="module")
def ddp_runs(workers):
    model, history = run(distributed.Dist(), run_cfg())  # one process, the global batch of 16
    return workers, model.state_dict(), history


def test_ddp_steps_equal_one_process_with_the_global_batch(ddp_runs):
    out, single, history = ddp_runs
    state = load_checkpoint(out / "full" / "checkpoint.pt")
    assert state["step"] == 8 and state["world_size"] == 2
    torch.testing.assert_close(state["model"], single, rtol=1e-4, atol=1e-6)
    # the logged loss (mean over ranks) is the big-batch loss, step by step
    logged = [s["loss"] for s in state["history"]["steps"]]
    assert logged == pytest.approx([s["loss"] for s in history["steps"]], rel=1e-5)
    assert [e["world_size"] for e in state["history"]["epochs"]] == [2, 2]
    assert all(e["images_per_s"] > 0 for e in state["history"]["epochs"])


def test_only_rank_0_writes(ddp_runs):
    out = ddp_runs[0]
    w0, w1 = (json.loads((out / f"writes{r}.json").read_text()) for r in range(W))
    assert w1 == []
    # full run: checkpoint + history at the end of epochs 1 and 2; cut run: epoch 1 only
    assert w0 == ["checkpoint.pt", "history.json"] * 3


def test_checkpoint_of_2_processes_resumes_in_1_at_the_same_step(ddp_runs):
    out, single, history = ddp_runs
    cut = out / "cut"
    assert load_checkpoint(cut / "checkpoint.pt")["step"] == 4  # end of epoch 1; the crash came at step 6
    model, resumed = run(distributed.Dist(), run_cfg(cut), resume=True)
    assert [s["step"] for s in resumed["steps"]] == list(range(1, 9))  # 1-4 on 2 processes, 5-8 on 1
    assert [e.get("world_size", 1) for e in resumed["epochs"]] == [2, 1]
    torch.testing.assert_close(model.state_dict(), single, rtol=1e-4, atol=1e-6)
    assert [s["loss"] for s in resumed["steps"]] == pytest.approx([s["loss"] for s in history["steps"]], rel=1e-5)


def test_every_method_trains_data_parallel(workers):
    """DDP runs every method and its averaged gradients are the same on both ranks (different images)."""
    r0, r1 = (torch.load(workers / f"methods{r}.pt") for r in range(W))
    assert list(r0) == list(METHODS)
    for name in METHODS:
        assert all(torch.isfinite(torch.tensor(r0[name]["losses"] + r1[name]["losses"]))), name
        torch.testing.assert_close(r0[name]["grads"], r1[name]["grads"], msg=name)


# ----------------------------------------------------------------------------- pieces without processes

@pytest.mark.parametrize("world", [1, 2, 4])
def test_sharded_loader_splits_the_single_process_batches(world):
    images = tiny_images()
    single = DeviceLoader(images, batch_size=16, shuffle=True, drop_last=True, seed=3)
    shards = [ShardedLoader(images, batch_size=16, seed=3, rank=r, world_size=world) for r in range(world)]
    assert all(len(s) == len(single) == 4 for s in shards)
    for epoch, start in ((0, 0), (1, 0), (1, 3)):
        ranks = [list(s.epoch(epoch, start)) for s in shards]
        whole = list(single.epoch(epoch, start))
        assert all(len(r) == len(whole) for r in ranks)
        for i, (x, _) in enumerate(whole):
            parts = [r[i][0] for r in ranks]
            assert all(len(p) == 16 // world for p in parts)
            assert torch.equal(torch.cat(parts), x)


def test_sharded_loader_refuses_an_uneven_split():
    with pytest.raises(ValueError, match="batch_size=10 .* divisible by the 4 processes; use e.g. 8 or 12"):
        ShardedLoader(tiny_images(), batch_size=10, rank=0, world_size=4)


def test_scaled_lr():
    assert distributed.scaled_lr(0.3, 4096, "lars") == pytest.approx(4.8)  # SimCLR: 0.3 x B / 256
    assert distributed.scaled_lr(0.12, 512, "sgd") == pytest.approx(0.24)  # lightly: 0.06 x B / 128
    assert distributed.scaled_lr(1e-3, 1024, "adamw") == pytest.approx(2e-3)  # square root
    with pytest.raises(ValueError, match="valid optimizers"):
        distributed.scaled_lr(0.1, 256, "adam")


def test_single_process_creates_no_process_group(tmp_path):
    dist = distributed.setup("cpu")
    assert not dist.active and dist.is_main
    model = nn.Linear(2, 2)
    assert dist.wrap(model, sync_bn=True) is model  # no DDP, no SyncBatchNorm
    assert isinstance(training_loader(tiny_images(), batch_size=16, device="cpu", seed=0), DeviceLoader)
    train.pretrain(resolve("quick", width=2, batch_size=16, train_subset=64, max_steps=2, proj_hidden=8, proj_dim=4,
                           device="cpu", channels_last=False), progress=False)
    assert not torch.distributed.is_initialized()


def test_sync_bn_on_cpu_is_a_clear_error():
    with pytest.raises(ValueError, match="needs CUDA devices"):
        distributed.Dist(rank=0, world_size=2).wrap(nn.BatchNorm1d(2), sync_bn=True)


def test_base_lr_is_scaled_to_the_global_batch(tmp_path, capsys):
    from sslkit.tools.cli import main

    assert main(["pretrain", "--lr", "0.1", "--base-lr", "0.1", "--out", str(tmp_path)]) == 2
    assert "either --lr or --base-lr" in capsys.readouterr().err
    args = [*TINY, "--optimizer", "sgd", "--base-lr", "0.1", "--batch-size", "64", "--max-steps", "1"]
    assert main(["pretrain", *args, "--out", str(tmp_path)]) == 0
    assert "lr 0.025 = base 0.1 scaled to the batch" in capsys.readouterr().out  # 0.1 x 64 / 256
    assert load_checkpoint(tmp_path / "checkpoint.pt")["config"]["lr"] == pytest.approx(0.025)


def test_explicit_gpu_index_is_refused_under_torchrun(monkeypatch):
    monkeypatch.setenv("WORLD_SIZE", "2")
    with pytest.raises(ValueError, match="cuda:LOCAL_RANK"):
        distributed.setup("cuda:1")


# ------------------------------------------------------------------------------------------ torchrun



@pytest.mark.slow
def test_torchrun_two_processes_then_resume_in_one(tmp_path):
    out = tmp_path / "run"
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2", "-m", "sslkit",
           "pretrain", *TINY, "--max-steps", "2", "--out", str(out)]
    r = subprocess.run(cmd, env=env, cwd=REPO, capture_output=True, text=True, timeout=300)
    assert r.returncode == 0, r.stderr[-3000:]
    assert r.stdout.count("pretraining simclr") == 1 and "= 2 processes x 16" in r.stdout  # rank 0 speaks
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 2 and state["world_size"] == 2
    assert sorted(p.name for p in out.iterdir()) == [".lock", "checkpoint.pt", "history.json", "metrics.json"]
    assert json.loads((out / "metrics.json").read_text())["steps"] == 2

    from sslkit.tools.cli import main

    assert main(["pretrain", *TINY, "--max-steps", "3", "--resume", "--out", str(out)]) == 0
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 3 and state["world_size"] == 1
    assert [s["step"] for s in state["history"]["steps"]] == [2, 3]


@pytest.mark.slow
def test_ctrl_c_under_torchrun_saves_once_and_resumes_in_one_process(tmp_path):
    """Ctrl-C reaches torchrun, which forwards SIGINT to the workers; they agree to stop at the next
    log point (an all-reduce), rank 0 writes the checkpoint, and one process finishes the run."""
    import signal
    import time

    out = tmp_path / "run"
    args = [*TINY, "--train-subset", "2048", "--epochs", "3", "--checkpoint-every", "1", "--out", str(out)]
    env = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}
    proc = subprocess.Popen([sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc_per_node=2",
                             "-m", "sslkit", "pretrain", *args], env=env, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out / "checkpoint.pt").exists():  # end of epoch 1 (64 steps)
        assert proc.poll() is None and time.time() < deadline, proc.communicate()
        time.sleep(0.05)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=120)
    assert err.count("checkpoint saved") == 2  # both ranks stop, at the same step
    step = load_checkpoint(out / "checkpoint.pt")["step"]
    assert 64 <= step < 192 and (step % 25 == 0 or step % 64 == 0)  # a log point or an epoch end

    from sslkit.tools.cli import main

    assert main(["pretrain", *args, "--resume"]) == 0
    state = load_checkpoint(out / "checkpoint.pt")
    assert state["step"] == 192 and state["world_size"] == 1
