"""sslkit's progress bars in a real Jupyter kernel: a long loop stays a few hundred IOPub messages.

A client that reads IOPub only after the cell (as nbval does) loses messages past ZeroMQ's high-water
mark, the final "idle" among them; CI failed that way on notebook 03. This runs the pattern of
sslkit.train's loop (update + set_postfix every step) in a kernel and reads IOPub the way nbval does.
"""
import io
import queue

import pytest

jupyter_client = pytest.importorskip("jupyter_client")

LOOP = """
import time
from {module} import tqdm
bar = tqdm(total={n}, desc="steps")
for i in range({n}):
    time.sleep(0.001)
    bar.set_postfix(loss=f"{{i / 7:.4f}}")
    bar.update(1)
bar.close()
"""


def iopub_messages(code: str) -> tuple[int, bool]:
    """Run ``code`` in a fresh kernel; wait for the reply, then read IOPub (nbval's order).
    Returns (messages for this cell, whether its final 'idle' arrived)."""
    km, kc = jupyter_client.manager.start_new_kernel(kernel_name="python3")
    try:
        msg_id = kc.execute(code)
        while kc.get_shell_msg(timeout=120)["parent_header"].get("msg_id") != msg_id:
            pass
        n = 0
        while True:
            try:
                msg = kc.get_iopub_msg(timeout=5)
            except queue.Empty:
                return n, False
            if msg["parent_header"].get("msg_id") != msg_id:
                continue
            n += 1
            if msg["msg_type"] == "error":
                raise AssertionError("\n".join(msg["content"]["traceback"]))
            if msg["msg_type"] == "status" and msg["content"]["execution_state"] == "idle":
                return n, True
    finally:
        kc.stop_channels()
        km.shutdown_kernel(now=True)


def test_long_loop_in_a_kernel_sends_few_messages():
    n, idle = iopub_messages(LOOP.format(module="sslkit.progress", n=4000))
    assert idle, "the cell's final 'idle' message was lost"
    # ~5 s of loop: a handful of redraws (a few comm messages each) plus the widget's creation.
    assert n < 200, f"{n} IOPub messages for one progress bar; plain tqdm.auto sends thousands"


def test_progress_is_a_drop_in_for_tqdm_auto():
    from tqdm.auto import tqdm as auto

    from sslkit.progress import MININTERVAL, tqdm

    bar = tqdm(range(3), desc="x", disable=True)
    assert isinstance(bar, auto) and list(bar) == [0, 1, 2]
    assert tqdm(total=1, file=io.StringIO()).mininterval == MININTERVAL >= 0.5
    assert tqdm(total=1, file=io.StringIO(), mininterval=0.2).mininterval == 0.2  # the caller can still choose
