"""How ``judge serve-sim --mode`` treats ``response_format``, like the servers users run.

=================  ==========================================================================
mode               structured output accepted (anything else is rejected as invalid)
=================  ==========================================================================
openai             ``text``, ``json_object``, ``json_schema`` (name + schema): OpenAI's API
vllm               the same, plus a top-level ``guided_json`` schema (vLLM's extension)
llama.cpp          ``text``, ``json_object`` (optional ``schema``), ``json_schema``, and the
                   top-level ``json_schema`` or ``grammar`` fields of llama.cpp's server
llama-cpp-python   ``text`` and ``json_object`` (optional ``schema``) only; ``json_schema``
                   fails request validation, reported as **HTTP 500** with the validation
                   error in the body, as llama-cpp-python's server does
text               no structured output at all: any ``response_format`` but ``text`` is a 400
=================  ==========================================================================

Rejections are answered before the fault draw (a server validates a request before it
works on it). A schema the server accepted reaches the backend as
``{"type": "json_schema", "json_schema": {"name": <schema title>, "schema": ...}}``, so the
simulated judge answers on it whichever way it was sent (the server constrains the output).
"""

from __future__ import annotations

from typing import Any

MODES = ("openai", "vllm", "llama.cpp", "llama-cpp-python", "text")

Rejection = tuple[int, str, str]  # HTTP status, error type, message


def _llama_cpp_python_error(value: Any) -> str:
    """The text of llama-cpp-python's 500: FastAPI's request validation error, stringified."""
    return ("1 validation error:\n  {'type': 'literal_error', 'loc': ('body', "
            "'response_format', 'type'), 'msg': \"Input should be 'text' or 'json_object'\", "
            f"'input': {value!r}, 'ctx': {{'expected': \"'text' or 'json_object'\"}}}}")


def check_format(mode: str, body: dict[str, Any]) -> Rejection | None:
    """Why a server in ``mode`` rejects this request's structured-output fields, or None.

    >>> check_format("llama-cpp-python", {"response_format": {"type": "json_schema"}})[0]
    500
    >>> check_format("llama-cpp-python", {"response_format": {"type": "json_object"}}) is None
    True
    >>> check_format("text", {"response_format": {"type": "json_object"}})[0]
    400
    """
    rf = body.get("response_format")
    if rf is None:
        return None
    kind = rf.get("type") if isinstance(rf, dict) else None
    if mode == "llama-cpp-python":
        if kind in ("text", "json_object"):
            return None
        return 500, "internal_server_error", _llama_cpp_python_error(kind)
    if mode == "text":
        if kind == "text":
            return None
        return 400, "invalid_request_error", (
            f"response_format of type {kind!r} is not supported by this server")
    if kind in ("text", "json_object"):
        return None
    if kind == "json_schema":
        js = rf.get("json_schema")
        if not isinstance(js, dict) or not isinstance(js.get("schema"), dict):
            return 400, "invalid_request_error", (
                "Invalid 'response_format.json_schema': expected an object with 'schema'")
        if mode == "openai" and not js.get("name"):
            return 400, "invalid_request_error", (
                "Missing required parameter: 'response_format.json_schema.name'")
        return None
    return 400, "invalid_request_error", (
        f"Invalid value for 'response_format.type': {kind!r}; supported values are "
        "'text', 'json_object' and 'json_schema'")


def backend_format(mode: str, body: dict[str, Any]) -> dict[str, Any] | None:
    """The ``response_format`` the backend sees: any accepted schema as ``json_schema``."""
    rf = body.get("response_format")
    schema = None
    if isinstance(rf, dict) and rf.get("type") == "json_object":
        schema = rf.get("schema")
    if mode == "llama.cpp" and isinstance(body.get("json_schema"), dict):
        schema = body["json_schema"]
    if mode == "vllm" and isinstance(body.get("guided_json"), dict):
        schema = body["guided_json"]
    if isinstance(schema, dict):
        return {"type": "json_schema",
                "json_schema": {"name": schema.get("title") or "schema", "schema": schema}}
    return rf if isinstance(rf, dict) else None
