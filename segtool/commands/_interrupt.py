"""The first-Ctrl-C rule of the long-running commands (`predict`, `train`): the first Ctrl-C asks the
work to stop cleanly (keeping what it wrote, so --resume continues), a second one interrupts at once."""

from __future__ import annotations

import signal
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager


@contextmanager
def first_ctrl_c_cancels(message: str | None = None) -> Iterator[threading.Event]:
    """Yield an event that the first Ctrl-C sets; that Ctrl-C also puts the previous handler back, so the
    second one raises KeyboardInterrupt as usual. The handler is restored on exit. Outside the main
    thread (where Python cannot install signal handlers) the event is only set by the caller.

    Args:
        message: printed to stderr on the first Ctrl-C (e.g. what happens next).
    """
    cancel = threading.Event()
    main = threading.current_thread() is threading.main_thread()
    previous = signal.getsignal(signal.SIGINT) if main else None

    def on_sigint(signum, frame) -> None:
        cancel.set()
        if message:
            print(message, file=sys.stderr, flush=True)
        signal.signal(signal.SIGINT, previous)

    if main:
        signal.signal(signal.SIGINT, on_sigint)
    try:
        yield cancel
    finally:
        if main:
            signal.signal(signal.SIGINT, previous)
