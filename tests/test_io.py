import os

import pytest
import torch

from sslkit.io import CheckpointError, atomic_write_json, load_checkpoint, save_checkpoint


def test_roundtrip(tmp_path):
    p = save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.ones(2)}, "step": 3})
    state = load_checkpoint(p)
    assert state["step"] == 3 and torch.equal(state["model"]["w"], torch.ones(2))


def test_failed_write_keeps_previous_file(tmp_path, monkeypatch):
    path = tmp_path / "c.pt"
    save_checkpoint(path, {"step": 1})

    def full_disk(*a, **k):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", full_disk)
    with pytest.raises(OSError, match="previous version.*intact"):
        save_checkpoint(path, {"step": 2})
    monkeypatch.undo()
    assert load_checkpoint(path)["step"] == 1
    assert [f.name for f in tmp_path.iterdir()] == ["c.pt"]  # no temp file left behind


def test_truncated_checkpoint_is_a_clear_error(tmp_path):
    path = save_checkpoint(tmp_path / "c.pt", {"model": {"w": torch.randn(100, 100)}})
    data = path.read_bytes()
    path.write_bytes(data[: len(data) // 2])
    with pytest.raises(CheckpointError, match="not a readable sslkit checkpoint"):
        load_checkpoint(path)


class Evil:
    def __reduce__(self):
        return (os.system, ("echo pwned",))


def test_foreign_pickle_is_refused_not_executed(tmp_path):
    path = tmp_path / "evil.pt"
    torch.save({"format": "sslkit-checkpoint-v1", "payload": Evil()}, path)
    with pytest.raises(CheckpointError):
        load_checkpoint(path)


def test_foreign_format_and_missing(tmp_path):
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an sslkit checkpoint"):
        load_checkpoint(tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="no checkpoint"):
        load_checkpoint(tmp_path / "missing.pt")


def test_atomic_json(tmp_path):
    atomic_write_json(tmp_path / "a" / "m.json", {"x": 1})
    assert (tmp_path / "a" / "m.json").read_text().strip().startswith("{")
