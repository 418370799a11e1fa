"""Imported once by the ``processes`` executor's forkserver, so workers fork with litellm loaded.

Importing this module imports litellm (seconds of CPU) and warms it up with one call that
never leaves the process (:func:`judge.llm.litellm_env.warm_up`): that is its only purpose.
Nothing else in judge imports it.

When the driver exits, the forkserver sees its pipe close and exits too. Python's teardown
of a process holding litellm takes ~0.8 s (and keeps the driver's stdout pipe open that
long); the forkserver has nothing to flush, so it exits at once instead.
"""

import atexit
import gc
import os
import sys

import judge.tasks  # noqa: F401 - the task code the workers run
from judge.llm.litellm_env import flush_stdio, gc_paused, warm_up


def _in_forkserver() -> bool:
    """True when imported by ``multiprocessing.forkserver.main`` (its preload)."""
    frame = sys._getframe()
    while frame is not None:
        if (frame.f_globals.get("__name__") == "multiprocessing.forkserver"
                and frame.f_code.co_name == "main"):
            return True
        frame = frame.f_back
    return False


def _exit_at_once() -> None:
    flush_stdio()
    os._exit(0)


with gc_paused():
    warm_up()

#: This process is the forkserver (not some other importer of this module).
FAST_EXIT = _in_forkserver()
if FAST_EXIT:
    gc.freeze()  # workers inherit litellm's objects: keep them out of every collection
    # atexit runs the last registered first; the forkserver's children never run atexit
    # handlers (they leave through os._exit), so this ends only the forkserver itself.
    atexit.register(_exit_at_once)
