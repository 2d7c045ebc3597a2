"""The kit works with the network blocked: every sslkit module imports, the embedded datasets load,
a missing dataset fails fast with a clear message, and notebook 00 runs top to bottom.

How the network is blocked, in a subprocess (and in the Jupyter kernel it starts, which inherits
the environment):

* always: a ``sitecustomize`` on PYTHONPATH replaces ``socket.socket.connect``/``connect_ex`` and
  ``socket.getaddrinfo`` so that anything but loopback and Unix sockets fails at once with
  "network blocked by test_offline" and is logged (the harness checks itself first: a connection
  to a public address must fail);
* and, when this runs as root with ``unshare`` and ``ip`` (as on CI), inside a new network namespace
  that has only a loopback interface: no route out for C libraries either.

Only notebook 00 runs here (about a minute); the nbval run of the whole arc in ``make test`` is NOT
network-blocked. Notebooks 01-05 read only the embedded data, which the loader test covers.
"""
import json
import os
import shutil
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parent.parent

SITECUSTOMIZE = r'''
import ipaddress, os, socket

_LOG = os.environ["SSLKIT_NET_LOG"]
_connect, _connect_ex, _getaddrinfo = socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo


def _local(host):
    if host in ("localhost", "", None):
        return True
    try:
        return ipaddress.ip_address(str(host).split("%")[0]).is_loopback
    except ValueError:
        return False


def _refuse(what):
    with open(_LOG, "a") as f:
        f.write(f"{os.getpid()} {what}\n")
    return OSError(101, f"network blocked by test_offline: {what}")


def connect(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        raise _refuse(f"connect {address[:2]}")
    return _connect(self, address)


def connect_ex(self, address):
    if self.family in (socket.AF_INET, socket.AF_INET6) and not _local(address[0]):
        _refuse(f"connect_ex {address[:2]}")
        return 101
    return _connect_ex(self, address)


def getaddrinfo(host, *args, **kwargs):
    if not _local(host if not isinstance(host, bytes) else host.decode()):
        raise socket.gaierror(socket.EAI_NONAME, str(_refuse(f"getaddrinfo {host!r}")))
    return _getaddrinfo(host, *args, **kwargs)


socket.socket.connect, socket.socket.connect_ex, socket.getaddrinfo = connect, connect_ex, getaddrinfo
'''


def _namespace_works() -> bool:
    if os.geteuid() != 0 or not shutil.which("unshare") or not shutil.which("ip"):
        return False
    r = subprocess.run(["unshare", "-n", "ip", "link", "set", "lo", "up"], capture_output=True)
    return r.returncode == 0


NAMESPACE = _namespace_works()


@pytest.fixture
def offline(tmp_path):
    """``run(argv, timeout)`` runs a command with the network blocked; returns (CompletedProcess, attempts)."""
    site = tmp_path / "site"
    site.mkdir()
    (site / "sitecustomize.py").write_text(SITECUSTOMIZE)
    log = tmp_path / "net.log"
    log.touch()
    env = dict(os.environ, PYTHONPATH=os.pathsep.join(filter(None, [str(site), os.environ.get("PYTHONPATH")])),
               SSLKIT_NET_LOG=str(log), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1")

    def run(argv, timeout):
        if NAMESPACE:  # a fresh network namespace: loopback only, brought up for the kernel's ZMQ sockets
            argv = ["unshare", "-n", "sh", "-c", 'ip link set lo up && exec "$@"', "sh", *argv]
        r = subprocess.run(argv, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
        return r, log.read_text().splitlines()

    return run


PROBE = textwrap.dedent('''
    import importlib, json, pkgutil, socket, time
    out = {}
    try:  # the harness itself: a public address must be unreachable
        socket.create_connection(("151.101.0.223", 443), timeout=5).close()
        out["blocked"] = False
    except OSError as e:
        out["blocked"] = True
    import sslkit
    out["modules"] = sorted(m.name for m in pkgutil.walk_packages(sslkit.__path__, "sslkit.")
                            if not m.name.endswith("__main__"))
    for name in out["modules"]:
        importlib.import_module(name)
    from sslkit import data
    from sslkit.teach import widgets
    shapes = {}
    for name in ("fashion-mnist", "digits"):
        for split in ("train", "test"):
            x, y = data.load(name, split)
            shapes[f"{name}/{split}"] = [list(x.shape), len(y)]
    shapes["photos"] = list(widgets.sample_photos().shape)
    out["shapes"] = shapes
    with open(__import__("os").environ["SSLKIT_NET_LOG"]) as f:
        out["attempts_before_missing"] = f.read().splitlines()
    t0 = time.perf_counter()
    try:
        data.load("stl10", "test")          # not embedded: must fail fast, naming the ways to get it
        out["missing"] = "loaded (cached on this machine)"
    except data.DatasetNotFoundError as e:
        out["missing"] = str(e)
    out["missing_seconds"] = time.perf_counter() - t0
    print(json.dumps(out))
''')


@pytest.mark.slow
def test_package_and_embedded_data_offline(offline):
    r, attempts = offline([sys.executable, "-c", PROBE], timeout=300)
    assert r.returncode == 0, r.stdout[-2000:] + r.stderr[-4000:]
    out = json.loads(r.stdout.strip().splitlines()[-1])
    assert out["blocked"], "the harness failed to block the network; the test would prove nothing"
    assert "sslkit.data" in out["modules"] and "sslkit.teach.classroom" in out["modules"]
    assert out["shapes"]["fashion-mnist/train"] == [[60000, 1, 28, 28], 60000]
    assert out["shapes"]["fashion-mnist/test"] == [[10000, 1, 28, 28], 10000]
    assert out["shapes"]["digits/train"][1] + out["shapes"]["digits/test"][1] == 1797
    assert out["shapes"]["photos"][:2] == [2, 3]
    # importing everything and loading embedded data never even tried the network
    assert out["attempts_before_missing"] == [a for a in attempts if "151.101.0.223" in a]
    assert out["missing_seconds"] < 30, "a missing dataset must fail in seconds offline, not hang"
    if not out["missing"].startswith("loaded"):
        assert "not found" in out["missing"] and "unreachable" in out["missing"], out["missing"]


@pytest.mark.slow
def test_notebook_00_runs_offline(offline, tmp_path):
    """Also the test of `sslkit run-notebooks` (make run's main job): summary line, notebook and HTML."""
    out = tmp_path / "out"
    r, attempts = offline([sys.executable, "-m", "sslkit", "run-notebooks", "--only", "00", "--out", str(out)],
                          timeout=900)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert "1 passed, 0 failed" in r.stdout
    notebook = next(out.glob("00_*.ipynb"))
    assert notebook.with_suffix(".html").exists()
    executed = json.loads(notebook.read_text())
    errors = [o for c in executed["cells"] for o in c.get("outputs", []) if o.get("output_type") == "error"]
    assert not errors
    assert attempts == [], f"notebook 00 tried the network: {attempts[:5]}"
