"""Which ``response_format`` a judge call asks for (structured output), per model.

``structured_output`` on a judge spec: ``json_schema`` (the rubric's schema, strict),
``json_object`` (any JSON object), ``none`` (no constraint: the answer is extracted from
the text), or ``auto``: the schema where litellm says the model supports it (a plugin
provider such as ``sim`` declares it when it registers its models), else extraction.
"""

from __future__ import annotations

from functools import lru_cache
from typing import Any

from judge.llm.litellm_env import get_litellm


def structured_format(spec: Any, rubric: Any, n_responses: int = 1) -> dict[str, Any] | None:
    """litellm ``response_format`` for this judge and rubric, or None to rely on extraction."""
    mode = spec.structured_output
    if mode == "none":
        return None
    if mode == "json_object":
        return {"type": "json_object"}
    if mode == "json_schema":
        return rubric.response_format(n_responses)
    if spec.api_base:
        return None
    return rubric.response_format(n_responses) if supports_schema(spec.model) else None


@lru_cache(maxsize=256)
def supports_schema(model: str) -> bool:
    """litellm's answer to "does this model take a JSON schema", asked once per model."""
    try:
        return bool(get_litellm().supports_response_schema(model=model))
    except Exception:  # noqa: BLE001 - unknown models
        return False
