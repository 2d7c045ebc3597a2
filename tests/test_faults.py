"""What happens when things go wrong: each case of the table in docs/reliability.md."""
import json
import os
import signal
import subprocess
import sys
import textwrap
import threading
import time
from pathlib import Path

import nbformat
import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st

import sslkit.train as train
from sslkit.io import DirectoryLock, RunLockedError, load_checkpoint, when_unlocked
from sslkit.losses import nt_xent

REPO = Path(__file__).resolve().parent.parent
# 64 steps per epoch, 3 epochs: long enough to be interrupted mid-epoch, short enough for CI.
CMD = [sys.executable, "-m", "sslkit", "pretrain", "--width", "8", "--batch-size", "32", "--train-subset", "2048",
       "--epochs", "3", "--device", "cpu", "--protocols", "none", "--no-progress", "--checkpoint-every", "1"]
ENV = {**os.environ, "OMP_NUM_THREADS": "1", "PYTHONUNBUFFERED": "1"}


def run_to_end(out: Path, *extra) -> subprocess.CompletedProcess:
    return subprocess.run([*CMD, "--out", str(out), *extra], env=ENV, cwd=REPO, capture_output=True, text=True,
                          timeout=600)


def start_and_signal(out: Path, sig: int) -> subprocess.Popen:
    """Start a run and send ``sig`` as soon as its first checkpoint (end of epoch 1) exists."""
    proc = subprocess.Popen([*CMD, "--out", str(out)], env=ENV, cwd=REPO, stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True)
    deadline = time.time() + 300
    while not (out / "checkpoint.pt").exists():
        assert proc.poll() is None, proc.communicate()
        assert time.time() < deadline
        time.sleep(0.02)
    time.sleep(0.3)  # into epoch 2
    proc.send_signal(sig)
    proc.wait(timeout=120)
    return proc


def final_weights(out: Path) -> dict:
    return load_checkpoint(out / "checkpoint.pt")["model"]


@pytest.fixture(scope="module")
def uninterrupted(tmp_path_factory):
    out = tmp_path_factory.mktemp("full")
    assert run_to_end(out).returncode == 0
    return out


@pytest.mark.slow
def test_sigkill_then_resume_equals_uninterrupted(tmp_path, uninterrupted):
    proc = start_and_signal(tmp_path, signal.SIGKILL)
    assert proc.returncode == -signal.SIGKILL
    killed_at = load_checkpoint(tmp_path / "checkpoint.pt")["step"]
    assert killed_at < 3 * 64  # it really was cut short
    assert run_to_end(tmp_path, "--resume").returncode == 0  # the dead run's lock is stale and taken over
    a, b = final_weights(uninterrupted), final_weights(tmp_path)
    assert all(torch.equal(a[k], b[k]) for k in a)
    h_full = json.loads((uninterrupted / "history.json").read_text())
    h_res = json.loads((tmp_path / "history.json").read_text())
    assert [s["loss"] for s in h_full["steps"]] == [s["loss"] for s in h_res["steps"]]


@pytest.mark.slow
def test_ctrl_c_writes_checkpoint_then_resume_equals_uninterrupted(tmp_path, uninterrupted):
    proc = start_and_signal(tmp_path, signal.SIGINT)
    err = proc.stderr.read()
    assert proc.returncode == 130 and "checkpoint saved" in err
    step = load_checkpoint(tmp_path / "checkpoint.pt")["step"]
    assert 64 < step < 3 * 64  # saved mid-run, after the epoch-1 checkpoint
    assert run_to_end(tmp_path, "--resume").returncode == 0
    a, b = final_weights(uninterrupted), final_weights(tmp_path)
    assert all(torch.equal(a[k], b[k]) for k in a)


def tiny(out=None, **kw):
    from sslkit.config import resolve

    base = dict(width=8, batch_size=32, train_subset=256, epochs=1, proj_hidden=32, proj_dim=16, device="cpu",
                channels_last=False)
    base.update(kw)
    return resolve("quick", **base, **({"out": str(out)} if out else {}))


def holder(directory) -> subprocess.Popen:
    """Another process that holds ``directory``'s lock until it is killed (it prints once it does)."""
    code = (f"import time; from sslkit.io import DirectoryLock\nwith DirectoryLock({str(directory)!r}):\n"
            f"    print('locked', flush=True); time.sleep(120)")
    proc = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=ENV, stdout=subprocess.PIPE, text=True)
    assert proc.stdout.readline().strip() == "locked"
    return proc


def test_concurrent_run_is_refused(tmp_path):
    other = holder(tmp_path)
    try:
        with pytest.raises(RunLockedError, match="another run is writing to"):
            train.pretrain(tiny(tmp_path), progress=False)
        assert not (tmp_path / "checkpoint.pt").exists()
    finally:
        other.kill()  # SIGKILL: no clean-up in that process; the OS releases its lock
        other.wait()
    train.pretrain(tiny(tmp_path), progress=False)
    assert (tmp_path / "checkpoint.pt").exists()


def test_a_finished_run_is_shared_while_another_process_holds_the_lock(tmp_path):
    first = train.pretrain(tiny(tmp_path, max_steps=3), progress=False)
    other = holder(tmp_path)  # e.g. notebook 05 while 04 reads the same run
    try:
        again = train.pretrain(tiny(tmp_path, max_steps=3), resume=True, progress=False)
        a, b = first["method"].encoder.state_dict(), again["method"].encoder.state_dict()
        assert all(torch.equal(a[k], b[k]) for k in a)
        # an unfinished run still needs the lock: more steps would write
        with pytest.raises(RunLockedError):
            train.pretrain(tiny(tmp_path, max_steps=5), resume=True, progress=False)
    finally:
        other.kill()
        other.wait()


def test_when_unlocked_waits_for_the_holder_then_runs_once(tmp_path):
    other = holder(tmp_path)
    threading.Timer(0.5, lambda: (other.kill(), other.wait())).start()  # the other process dies in 0.5 s
    calls, log = [], []
    t0 = time.perf_counter()
    assert when_unlocked(tmp_path, lambda: calls.append(1) or "done", poll=0.05, log=log.append) == "done"
    assert calls == [1] and time.perf_counter() - t0 >= 0.4
    assert len(log) == 1 and "waiting for another process" in log[0]
    # lost the race for the lock after the check: waits for the new holder, then runs
    attempts = iter([RunLockedError("taken"), "ok"])

    def racing():
        a = next(attempts)
        if isinstance(a, Exception):
            raise a
        return a

    assert when_unlocked(tmp_path, racing, poll=0.01, log=log.append) == "ok"


def test_pretrained_waits_for_the_process_training_the_same_run(tmp_path, capsys):
    """Two notebooks asking for one cached run at once (e.g. 05 while 04 trains it): one trains, the other
    waits and reads the finished run."""
    code = textwrap.dedent(f"""
        import time, sslkit.train as train
        from sslkit.config import PretrainConfig
        real = train.step_generator
        def slow(*a):  # a slower machine: keep the lock long enough for the test to see it
            time.sleep(0.3)
            return real(*a)
        train.step_generator = slow
        train.pretrained(PretrainConfig(**{tiny().to_dict()!r}), root={str(tmp_path)!r}, progress=False)
    """)
    trainer = subprocess.Popen([sys.executable, "-c", code], cwd=REPO, env=ENV)
    try:
        deadline = time.monotonic() + 120
        while not list(tmp_path.glob("*/.lock")):
            assert trainer.poll() is None and time.monotonic() < deadline, "the training process never took the lock"
            time.sleep(0.05)
        result = train.pretrained(tiny(), root=tmp_path, progress=False)
        assert trainer.wait(timeout=300) == 0
    finally:
        trainer.kill()
    assert "waiting for another process" in capsys.readouterr().out
    (run,) = tmp_path.iterdir()
    saved = load_checkpoint(run / "checkpoint.pt")
    assert saved["step"] == result["history"]["epochs"][-1]["step"] == 8  # trained once, by the other process
    mine = result["method"].state_dict()
    assert all(torch.equal(mine[k], saved["model"][k]) for k in mine)


def test_lock_is_exclusive_within_a_process_family(tmp_path):
    with DirectoryLock(tmp_path):
        code = f"from sslkit.io import DirectoryLock\nwith DirectoryLock({str(tmp_path)!r}): pass"
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
        assert r.returncode != 0 and "another run" in r.stderr


def test_out_of_memory_suggests_smaller_batch(monkeypatch, tmp_path):
    def oom(*a, **k):
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(train, "step_generator", oom)
    with pytest.raises(train.TrainingOutOfMemoryError, match="try a smaller batch \\(e.g. batch_size 16\\)"):
        train.pretrain(tiny(tmp_path), progress=False)


def _notebook(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell("profile = 'quick'", metadata={"tags": ["parameters"]}),
                nbformat.v4.new_code_cell(code)]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


def test_run_notebooks_survives_a_dead_kernel(tmp_path, capsys):
    from sslkit.teach.notebooks import run_notebooks

    books = tmp_path / "nb"
    books.mkdir()
    _notebook(books / "01_ok.ipynb", "print('fine')")
    _notebook(books / "02_dies.ipynb", "import os, signal; os.kill(os.getpid(), signal.SIGKILL)")
    _notebook(books / "03_raises.ipynb", "raise ValueError('bad parameter')")
    _notebook(books / "04_ok.ipynb", "print(profile)")
    records = run_notebooks("quick", out=tmp_path / "out", directory=books, log=lambda *a: None)
    assert [r["status"] for r in records] == ["ok", "FAILED", "FAILED", "ok"]
    assert "bad parameter" in records[2]["error"]
    assert (tmp_path / "out" / "04_ok.html").exists()


# --------------------------------------------------------------------------- fuzzed inputs

finite = st.floats(-1e3, 1e3, allow_nan=False, width=32)


@settings(max_examples=40, deadline=None)
@given(n=st.integers(2, 6), d=st.integers(1, 5), data=st.data(), scale=st.floats(1e-2, 1e2))
def test_nt_xent_finite_and_scale_invariant(n, d, data, scale):
    z1 = torch.tensor(data.draw(st.lists(finite, min_size=n * d, max_size=n * d))).view(n, d)
    z2 = torch.tensor(data.draw(st.lists(finite, min_size=n * d, max_size=n * d))).view(n, d)
    loss = nt_xent(z1, z2)
    assert torch.isfinite(loss)
    if z1.norm(dim=1).min() > 1e-3 and z2.norm(dim=1).min() > 1e-3:  # normalisation is defined
        assert nt_xent(z1 * scale, z2 * scale).item() == pytest.approx(loss.item(), rel=1e-3, abs=1e-4)


@settings(max_examples=40, deadline=None)
@given(labels=st.lists(st.integers(0, 4), min_size=1, max_size=60), k=st.integers(1, 8), seed=st.integers(0, 99))
def test_k_per_class_never_exceeds_or_duplicates(labels, k, seed):
    from sslkit.data import k_per_class

    y = torch.tensor(labels)
    counts = torch.bincount(y)
    if (counts[counts > 0] < k).any():
        with pytest.raises(ValueError, match="has only"):
            k_per_class(y, k, seed=seed)
        return
    idx = k_per_class(y, k, seed=seed)
    assert len(set(idx.tolist())) == len(idx)
    assert torch.bincount(y[idx], minlength=len(counts)).tolist() == [k if c else 0 for c in counts.tolist()]
