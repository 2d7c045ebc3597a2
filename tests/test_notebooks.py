"""The notebook machinery. The notebooks themselves are executed and their marked outputs compared
by nbval (`pytest --nbval-lax notebooks/`, part of `make test`)."""
import json
from pathlib import Path

import nbformat
import pytest

from sslkit.teach.notebooks import NOTEBOOK_DIR, parse_value, select

REPO = Path(__file__).resolve().parent.parent
BOOKS = sorted(NOTEBOOK_DIR.glob("[0-9][0-9]_*.ipynb"))


def test_parse_value():
    assert [parse_value(v) for v in ("3", "0.5", "true", "None", "[1, 2]", "cifar10")] == [3, 0.5, True, None,
                                                                                          [1, 2], "cifar10"]


def test_select_unknown_prefix_lists_notebooks():
    with pytest.raises(ValueError, match="no notebook matches 99"):
        select("99")


@pytest.mark.parametrize("path", BOOKS, ids=lambda p: p.stem)
def test_notebook_conventions(path):
    nb = nbformat.read(path, as_version=4)
    code = [c for c in nb.cells if c.cell_type == "code"]
    assert nb.cells[0].cell_type == "markdown" and "runtime" in nb.cells[0].source.lower()
    assert "parameters" in code[0].metadata.get("tags", []), "first code cell must be tagged 'parameters'"
    assert "profile" in code[0].source and "seed" in code[0].source
    assert all(c.get("outputs") is not None for c in code) and any(c.outputs for c in code), \
        "commit notebooks executed (quick profile)"
    assert not any(o.get("output_type") == "error" for c in code for o in c.outputs)
    checked = [c for c in code if "# NBVAL_CHECK_OUTPUT" in c.source]
    assert len(checked) >= 2, "mark at least two deterministic cells for nbval"
    assert path.stat().st_size < 1_500_000, "keep committed notebooks small"


def test_bad_papermill_parameter_fails_in_first_cells(tmp_path):
    import papermill as pm

    if not BOOKS:
        pytest.skip("no notebooks yet")
    with pytest.raises(pm.PapermillExecutionError, match="valid profiles: quick, full"):
        pm.execute_notebook(str(BOOKS[0]), str(tmp_path / "out.ipynb"), parameters={"profile": "huge"},
                            cwd=str(NOTEBOOK_DIR), kernel_name="python3", progress_bar=False)
    executed = json.loads((tmp_path / "out.ipynb").read_text())
    code = [c for c in executed["cells"] if c["cell_type"] == "code"]
    failed = [i for i, c in enumerate(code) if any(o.get("output_type") == "error" for o in c.get("outputs", []))]
    # parameters, papermill's injected parameters, then the setup cell: it fails there, before any work
    assert failed and failed[0] <= 2
