import os

import pytest
import torch

# Two cores on CI: one intra-op thread per test process keeps timings stable and avoids oversubscription.
torch.set_num_threads(1)
if os.environ.get("PYTEST_XDIST_WORKER"):
    # Under `pytest -n N` every worker shares the cores with the others: the notebook kernels and the
    # subprocesses the tests start inherit one thread each (two threads per process on two busy cores
    # run several times slower than one).
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    os.environ.setdefault("MKL_NUM_THREADS", "1")

def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip)


@pytest.fixture
def crash_at(monkeypatch):
    """``disarm = crash_at(step, action=None)``: the next training run dies at ``step`` (SystemExit, like a
    killed process) or, with ``action``, calls it there and goes on (e.g. to send itself SIGINT)."""
    import sslkit.train as train

    real = train.step_generator

    def arm(step: int, action=None):
        def generator(seed, s, device):
            if s == step:
                if action is None:
                    raise SystemExit("killed")
                action()
            return real(seed, s, device)

        monkeypatch.setattr(train, "step_generator", generator)
        return lambda: monkeypatch.setattr(train, "step_generator", real)

    return arm
