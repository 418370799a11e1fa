"""Import litellm the way this project needs it: offline price map, quiet, no callbacks."""

from __future__ import annotations

import os
from typing import Any

_LITELLM: Any = None


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
