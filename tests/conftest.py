import os

import pytest
import torch

# Two cores on CI: one intra-op thread per test process keeps timings stable and avoids oversubscription.
torch.set_num_threads(1)


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory, monkeypatch):
    """Never let a test write decoded caches into the repo's data/ directory."""
    import sslkit.data as data

    if hasattr(data, "CACHE_DIR"):
        monkeypatch.setattr(data, "CACHE_DIR", tmp_path_factory.mktemp("cache"))
    yield


def pytest_collection_modifyitems(config, items):
    if not torch.cuda.is_available():
        skip = pytest.mark.skip(reason="needs a CUDA device")
        for item in items:
            if "cuda" in item.keywords:
                item.add_marker(skip)
