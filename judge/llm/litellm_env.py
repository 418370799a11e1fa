"""Import litellm the way this project needs it: offline price map, quiet, no callbacks."""

from __future__ import annotations

import atexit
import contextlib
import gc
import os
import sys
import threading
from collections.abc import Iterator
from contextvars import ContextVar
from typing import Any, NoReturn

_LITELLM: Any = None
_QUIET: Any = False  # litellm's is_internal_call flag, None if absent; False: not looked up

#: litellm callback lists that the "internal call" flag would silence.
CALLBACK_LISTS = ("callbacks", "success_callback", "_async_success_callback",
                  "failure_callback", "_async_failure_callback")


@contextlib.contextmanager
def gc_paused() -> Iterator[None]:
    """Pause Python's cyclic garbage collector (if it runs) for the block."""
    was_enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if was_enabled:
            gc.enable()


def imported() -> bool:
    """True once this process has imported litellm through :func:`get_litellm`."""
    return _LITELLM is not None


def get_litellm() -> Any:
    """Import and configure litellm once (lazily: it costs seconds at import)."""
    global _LITELLM
    if _LITELLM is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        os.environ.setdefault("LOGGING_WORKER_MAX_QUEUE_SIZE", "500")  # see judge/__init__.py
        # The import builds ~10^5 long-lived objects: cyclic collections in the middle of
        # it find nothing to free and cost ~0.6 s of its ~2.8 s.
        with gc_paused():
            import litellm

        litellm.suppress_debug_info = True
        litellm.drop_params = True
        litellm.telemetry = False
        # No callbacks are registered, so nothing is logged anywhere; leave message
        # redaction off (it deep-copies every request and response: ~4 ms a call).
        _LITELLM = litellm
    return _LITELLM


def quiet_flag() -> ContextVar[bool] | None:
    """litellm's per-call logging off-switch, or None when it must not (or cannot) be used.

    After every call litellm builds a standard logging payload and schedules success
    logging for its callbacks (~0.4 ms of CPU a call); judge registers none, so that work
    goes nowhere. litellm skips it for calls made while its context variable
    ``litellm._internal_context.is_internal_call`` is True (meant for nested sub-calls that
    a parent call logs). In litellm 1.110 the flag changes nothing else a plain
    ``acompletion`` caller observes: the response, usage, ``_hidden_params`` (including
    ``response_cost``) and exception mapping are the same; what it also skips is the
    failure-logging handlers (callbacks only), the proxy's budget-reservation stamp, and
    litellm-cache hit callbacks (judge uses its own cache). See tests/llm/test_quiet.py.

    Returns None (use litellm unchanged) if the flag does not exist in this litellm or any
    callback is registered, so user callbacks keep receiving every event.
    """
    global _QUIET
    litellm = get_litellm()
    if _QUIET is False:
        try:
            from litellm._internal_context import is_internal_call
        except ImportError:
            is_internal_call = None
        _QUIET = is_internal_call if isinstance(is_internal_call, ContextVar) else None
    if _QUIET is None or any(getattr(litellm, name, None) for name in CALLBACK_LISTS):
        return None
    return _QUIET


def warm_up() -> None:
    """Load what litellm imports lazily on its first chat call (~0.3 s of CPU) now.

    One ``mock_response`` call: litellm answers it without any network or provider
    client, with its logging off, and leaves no thread running (the processes executor's
    forkserver calls this once, so that its workers do not each pay for it). Never raises.
    """
    litellm = get_litellm()
    quiet = quiet_flag()
    token = quiet.set(True) if quiet is not None else None
    try:
        litellm.completion(model="openai/judge-warm-up", api_key="warm-up",
                           messages=[{"role": "user", "content": "warm-up"}],
                           mock_response="ok", input_cost_per_token=0.0,
                           output_cost_per_token=0.0)
    except Exception:  # noqa: BLE001, S110 - a warm-up only saves time; the real call reports
        pass
    finally:
        if quiet is not None and token is not None:
            quiet.reset(token)


def exit_now(code: int = 0) -> NoReturn:
    """End the process as ``sys.exit(code)`` would, minus the interpreter's teardown.

    Tearing down a process that imported litellm takes ~0.8 s of CPU (hundreds of thousands
    of objects, thousands of modules) and does nothing useful. This runs the ``atexit``
    handlers (logging shutdown, litellm's own), flushes stdout and stderr, then exits. Use it
    only when every output file is closed (a command has returned) and :func:`can_exit_now`
    holds, as :func:`judge.cli.main` does.
    """
    atexit._run_exitfuncs()
    flush_stdio()
    os._exit(code)


def flush_stdio() -> None:
    """Flush stdout and stderr (closed or broken streams are skipped)."""
    for stream in (sys.stdout, sys.stderr):
        try:
            stream.flush()
        except (OSError, ValueError):
            pass


def can_exit_now() -> bool:
    """litellm is loaded (so teardown is slow), has no callback that might still be busy,
    and no other non-daemon thread is running (an ordinary exit would wait for it)."""
    if _LITELLM is None or quiet_flag() is None:
        return False
    main = threading.main_thread()
    return all(t is main or t.daemon for t in threading.enumerate())
