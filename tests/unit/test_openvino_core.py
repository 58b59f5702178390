"""OpenVINO models released in any order, on any thread, leave every thread's alternate signal stack usable
(issue 23: the suite died with SIGSEGV and no traceback, long after the test that caused it).

OpenVINO's CPU plugin (one per `openvino.Core`) swaps the calling thread's sigaltstack for a stack of its own
and unmaps it when the plugin goes, restoring the old one only on the thread and in the order it expects.
segtool therefore keeps one Core per process (`segtool.core.runtimes.openvino_rt.openvino_core`). The check
runs in a fresh interpreter: with the bug, the signal at its end kills the process it runs in.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

from segtool.core.onnx_export import export_onnx
from segtool.models import load_checkpoint
from tests.helpers import _tiny_checkpoint

pytestmark = [
    pytest.mark.skipif(not sys.platform.startswith("linux"), reason="sigaltstack and /proc/self/maps: Linux"),
    pytest.mark.skipif(importlib.util.find_spec("openvino") is None, reason="OpenVINO not installed"),
]

CHILD = r"""
import ctypes, gc, os, signal, sys, threading
from segtool.core.engine import Engine

libc = ctypes.CDLL(None)

class Stack(ctypes.Structure):
    _fields_ = [("sp", ctypes.c_void_p), ("flags", ctypes.c_int), ("size", ctypes.c_size_t)]

def alt_stack_usable():
    # the calling thread's alternate signal stack is off, or lies in memory that is still mapped
    st = Stack()
    assert libc.sigaltstack(None, ctypes.byref(st)) == 0
    if st.flags & 2 or not st.sp:  # SS_DISABLE
        return True
    for line in open("/proc/self/maps"):
        lo, hi = (int(x, 16) for x in line.split()[0].split("-"))
        if lo <= st.sp and st.sp + st.size <= hi:
            return True
    return False

onnx_file = sys.argv[1]
engine = lambda: Engine(onnx_file, device="cpu", runtime="openvino", threads=1)
a, b = engine(), engine()  # two models alive at once, as the INT8 check and the viewer hold them
del a  # released first although made first
gc.collect()
del b
gc.collect()
print("out of order", alt_stack_usable(), flush=True)
c = engine()
releaser = threading.Thread(target=lambda: (globals().pop("c"), gc.collect()))  # released on another thread
releaser.start()
releaser.join()
print("other thread", alt_stack_usable(), flush=True)
done = threading.Thread(target=lambda: print("in a thread", engine() is not None and alt_stack_usable(), flush=True))
done.start()
done.join()
print("after the thread", alt_stack_usable(), flush=True)
# a real signal with a Python handler: Python installs it with SA_ONSTACK, so the kernel puts its frame on
# the alternate stack; a stack that was unmapped kills the process here with SIGSEGV
signal.signal(signal.SIGUSR1, lambda *_: print("handled", flush=True))
os.kill(os.getpid(), signal.SIGUSR1)
print("alive", flush=True)
"""


def test_models_released_out_of_order_and_on_other_threads_leave_signal_stacks_usable(tmp_path):
    onnx_file = export_onnx(load_checkpoint(_tiny_checkpoint(tmp_path / "tiny.pt")), tmp_path / "m.onnx")
    res = subprocess.run(
        [sys.executable, "-X", "faulthandler", "-c", CHILD, str(onnx_file)],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=str(Path(__file__).resolve().parents[2]),
    )
    assert res.returncode == 0, (res.returncode, res.stdout, res.stderr[-3000:])
    assert res.stdout.splitlines() == [
        "out of order True",
        "other thread True",
        "in a thread True",
        "after the thread True",
        "handled",
        "alive",
    ], res.stderr[-3000:]
