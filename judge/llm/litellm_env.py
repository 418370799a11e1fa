"""Import litellm the way this project needs it: offline price map, quiet, no callbacks."""

from __future__ import annotations

import os
from contextvars import ContextVar
from typing import Any

_LITELLM: Any = None
_QUIET: Any = False  # litellm's is_internal_call flag, None if absent; False: not looked up

#: litellm callback lists that the "internal call" flag would silence.
CALLBACK_LISTS = ("callbacks", "success_callback", "_async_success_callback",
                  "failure_callback", "_async_failure_callback")


def get_litellm() -> Any:
    """Import and configure litellm once (lazily: it costs seconds at import)."""
    global _LITELLM
    if _LITELLM is None:
        os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
        os.environ.setdefault("LITELLM_LOG", "ERROR")
        os.environ.setdefault("LOGGING_WORKER_MAX_QUEUE_SIZE", "500")  # see judge/__init__.py
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
