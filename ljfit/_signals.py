"""Ctrl-C and SIGTERM for the ``ljfit`` command: one exception, critical sections, test pauses.

The command installs :func:`handler` for SIGINT and SIGTERM as the very first thing it
does (before numpy, scipy or ASE are imported). The handler turns the first signal into a
:class:`KeyboardInterrupt` in the main thread, whatever it is doing at that moment --
importing, reading, fitting, writing -- so every ``finally`` and ``except BaseException``
on the way out runs (the results staging folder is deleted, the lock released), and the
command prints one line and exits with 128 + the signal number (130, 143). Later signals
while that exception unwinds are noted, not raised again: the clean-up is short and must
not be cut in half by an impatient second Ctrl-C.

:func:`deferred` marks a critical section (the renames that put a results folder in place):
a signal arriving inside it is held and raised when the section ends, so the folder is
either entirely the old one or entirely the new one. Blocking the signal with
``pthread_sigmask`` would not do: the kernel then delivers it to another thread (BLAS,
tqdm), and CPython runs the Python-level handler in the main thread anyway.

Nothing here imports anything heavy; importing this module has no side effects.
"""

from __future__ import annotations

import contextlib
import os
import signal
import threading
import time

__all__ = ["install", "handler", "deferred", "received", "exit_code", "pause_for_test"]

#: the signals the command handles
SIGNALS = tuple(s for s in (getattr(signal, "SIGINT", None), getattr(signal, "SIGTERM", None))
                if s is not None)

_state = {"received": None, "defer": 0, "pending": None}

#: Seconds after which a signal that landed in a callback whose exceptions CPython drops
#: is sent again.
RESEND_DELAY = 0.005


def _swallowing(frame) -> bool:
    """True inside code whose exceptions CPython prints and drops ("Exception ignored in
    ..."): a ``__del__``, or the weakref callback of importlib's module locks (``cb``),
    which runs whenever an import releases its lock. A KeyboardInterrupt raised there
    would be lost and the run would go on as if no signal had come."""
    depth = 0
    while frame is not None and depth < 50:
        code = frame.f_code
        if code.co_name == "__del__" or (code.co_name == "cb"
                                         and "importlib" in code.co_filename):
            return True
        frame, depth = frame.f_back, depth + 1
    return False


def handler(signum, frame):
    """Raise :class:`KeyboardInterrupt` for the first signal (held inside :func:`deferred`;
    sent again, to be raised once out of a :func:`_swallowing` callback)."""
    if _state["received"] is not None:
        return  # already stopping: let the clean-up finish
    if _swallowing(frame):
        # send it again a moment later, from a thread (raise_signal here would re-enter
        # this handler at once, still inside the callback): by then the short callback
        # has returned, and the signal is raised where it is not lost
        timer = threading.Timer(RESEND_DELAY, os.kill, (os.getpid(), signum))
        timer.daemon = True
        timer.start()
        return
    _state["received"] = signum
    if _state["defer"]:
        _state["pending"] = signum
        return
    raise KeyboardInterrupt


def install():
    """Install :func:`handler` for SIGINT and SIGTERM; returns a function that restores the
    previous handlers (a no-op outside the main thread, where signals cannot be handled)."""
    _state.update(received=None, defer=0, pending=None)
    if threading.current_thread() is not threading.main_thread():
        return lambda: None
    previous = {}
    for s in SIGNALS:
        if signal.getsignal(s) is signal.SIG_IGN:
            continue  # ignored by whoever started us (nohup, a background job): keep it so
        previous[s] = signal.signal(s, handler)
    xfsz = getattr(signal, "SIGXFSZ", None)
    if xfsz is not None:
        # past a file size limit (ulimit -f) write() should fail with EFBIG, which the
        # results writer reports in one line, instead of the default: killed, core dumped
        previous[xfsz] = signal.signal(xfsz, signal.SIG_IGN)

    def restore():
        for s, h in previous.items():
            signal.signal(s, h if h is not None else signal.SIG_DFL)

    return restore


def received():
    """The signal number that stopped the command, or None."""
    return _state["received"]


def exit_code(default: int = 130) -> int:
    """128 + the signal received (130 for SIGINT, 143 for SIGTERM); ``default`` when the
    KeyboardInterrupt did not come from :func:`handler` (a test, an embedding program)."""
    s = _state["received"]
    return 128 + int(s) if s is not None else default


@contextlib.contextmanager
def deferred():
    """Hold SIGINT/SIGTERM (as handled by :func:`handler`) until the block ends, then raise
    the KeyboardInterrupt it would have raised."""
    _state["defer"] += 1
    try:
        yield
    finally:
        _state["defer"] -= 1
        if not _state["defer"] and _state["pending"] is not None:
            _state["pending"] = None
            raise KeyboardInterrupt


def pause_for_test(point: str) -> None:
    """Test hook: stop at a named point so a test can send a signal there.

    Active only when the environment variable ``LJFIT_TEST_PAUSE`` is
    ``<point>:<marker file>[:<seconds>]`` (set by the test suite, never by users): the
    process writes its PID into the marker file, so the test knows it got there, then
    sleeps ``seconds`` (default 60; 0 marks the point and runs on). Points: ``reading``,
    ``fitting`` (features computed, the fits next), ``writing`` (half of the files written
    into the staging folder), ``after-old-moved`` (the two-rename swap, between its
    renames), ``after-exchange`` / ``after-new-moved`` (the new folder in place, the old
    one not yet deleted), ``figures`` / ``figures-child`` (the parent / the forked child
    process drawing its share of the figures; the child writes its own PID).
    """
    spec = os.environ.get("LJFIT_TEST_PAUSE")
    if not spec:
        return
    name, _, rest = spec.partition(":")
    if name != point:
        return
    marker, _, seconds = rest.partition(":")
    if marker:
        with open(marker, "w") as fh:
            fh.write(str(os.getpid()))
    deadline = time.monotonic() + (float(seconds) if seconds else 60.0)
    while time.monotonic() < deadline:
        time.sleep(0.01)  # short steps: a held (deferred) signal must end the pause
        if _state["pending"] is not None:
            return
