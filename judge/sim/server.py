"""A local OpenAI chat-completions server backed by the simulated models, with fault injection.

``judge serve-sim`` runs :func:`run_server`. Endpoints: ``POST /v1/chat/completions``
(plain and ``stream: true`` SSE), ``GET /v1/models``, ``GET /health`` and ``POST /_sim/flush``
(flushes the request log and returns counts by outcome). Any ``Bearer`` key is accepted and
is never logged or echoed. ``mode`` makes it treat ``response_format`` like OpenAI, vLLM,
llama.cpp's server, llama-cpp-python's server or a server with no structured output
(:mod:`judge.sim.server_modes`). See docs/SERVER.md.
"""

from __future__ import annotations

import asyncio
import json
import signal
import socket
import struct
import sys
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any, Protocol

from aiohttp import web

from judge.errors import UsageError
from judge.ids import digest
from judge.sim.faults import Decision, FaultConfig, decide, malform, wants_json
from judge.sim.server_modes import MODES, backend_format, check_format

READY_PREFIX = "judge serve-sim: listening on "
BACKENDS = ("sim", "echo")
# Request fields passed to the backend as ``params``.
PARAM_KEYS = ("temperature", "top_p", "seed", "max_tokens", "max_completion_tokens", "stop",
              "response_format", "presence_penalty", "frequency_penalty")
_ERROR_TYPES = {400: "invalid_request_error", 401: "authentication_error",
                422: "invalid_request_error",
                429: "rate_limit_error", 500: "server_error", 503: "service_unavailable"}
_STREAM_PIECE = 64  # characters per SSE content chunk


class Reply(Protocol):
    text: str
    prompt_tokens: int
    completion_tokens: int


Backend = Callable[[str, list, dict], Reply]


@dataclass(frozen=True)
class EchoReply:
    text: str
    prompt_tokens: int
    completion_tokens: int


def _tokens(text: str) -> int:
    return max(1, len(text) // 4)


def echo_complete(model: str, messages: list[dict], params: dict) -> EchoReply:
    """A trivial deterministic backend: echoes the last user message, or a JSON verdict."""
    last = next((str(m.get("content", "")) for m in reversed(messages)
                 if isinstance(m, dict) and m.get("role") == "user"), "")
    if wants_json({"messages": messages, "response_format": params.get("response_format")}):
        score = 1 + int(digest([model, last])[:8], 16) % 5
        text = json.dumps({"score": score, "reason": f"echo of {len(last)} characters"})
    else:
        text = f"[{model}] {last}"
    prompt = sum(_tokens(str(m.get("content", ""))) for m in messages if isinstance(m, dict))
    return EchoReply(text, prompt, _tokens(text))


def load_backend(name: str, profile: str | None = None) -> Backend:
    """The backend called ``name`` (``sim`` or ``echo``); a UsageError if it can't be loaded."""
    if name == "echo":
        return echo_complete
    if name != "sim":
        raise UsageError(f"unknown backend {name!r}", field="--backend",
                         hint=f"use one of: {', '.join(BACKENDS)}")
    try:
        from judge.sim.provider import complete_sync
    except ImportError as err:
        raise UsageError(f"the sim backend is not available ({err})", field="--backend",
                         hint="use --backend echo, or install a judge version with judge.sim.provider"
                         ) from err
    if profile is None:
        return complete_sync
    return lambda model, messages, params: complete_sync(model, messages, params, profile=profile)


class RequestLog:
    """Buffered JSONL request log: whole lines, flushed by :meth:`flush` (periodic and at exit)."""

    def __init__(self, path: str | Path | None):
        self.path = Path(path) if path else None
        self._fh: IO[str] | None = None
        if self.path is not None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = self.path.open("a", encoding="utf-8")
        self._buf: list[str] = []

    def add(self, entry: dict[str, Any]) -> None:
        if self._fh is not None:
            self._buf.append(json.dumps(entry, separators=(",", ":")))

    def flush(self) -> None:
        if self._fh is not None and self._buf:
            lines, self._buf = self._buf, []
            self._fh.write("\n".join(lines) + "\n")
            self._fh.flush()

    def close(self) -> None:
        self.flush()
        if self._fh is not None:
            self._fh.close()
            self._fh = None


def _error(status: int, message: str, headers: dict[str, str] | None = None,
           kind: str | None = None) -> web.Response:
    body = {"error": {"message": message,
                      "type": kind or _ERROR_TYPES.get(status, "server_error"),
                      "param": None, "code": str(status)}}
    return web.json_response(body, status=status, headers=headers)


def _check_request(body: Any) -> str | None:
    """What is wrong with a chat request body, or None."""
    if not isinstance(body, dict):
        return "request body must be a JSON object"
    if not isinstance(body.get("model"), str) or not body["model"]:
        return "'model' must be a non-empty string"
    msgs = body.get("messages")
    if not isinstance(msgs, list) or not msgs or not all(isinstance(m, dict) for m in msgs):
        return "'messages' must be a non-empty list of objects"
    if body.get("n", 1) != 1:
        return "only n=1 is supported"
    return None


def _abort(request: web.Request) -> None:
    """Reset the connection: SO_LINGER 0 makes close() send a TCP RST."""
    transport = request.transport
    if transport is None:
        return
    sock = transport.get_extra_info("socket")
    if sock is not None:
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
        except OSError:
            pass
    transport.abort()


def _gone(request: web.Request) -> bool:
    transport = request.transport
    return transport is None or transport.is_closing()


class SimServer:
    """The aiohttp application state: faults, backend, per-body attempt counters, request log."""

    def __init__(self, faults: FaultConfig, backend: Backend, log: RequestLog,
                 models: tuple[str, ...] = ("generator", "judge"), mode: str = "openai"):
        self.faults = faults
        self.mode = mode
        self.backend = backend
        self.log = log
        self.models = models
        self.attempts: dict[str, int] = {}
        self.outcomes: Counter[str] = Counter()
        self.in_flight = 0
        self.closing = asyncio.Event()

    def app(self) -> web.Application:
        app = web.Application(client_max_size=16 * 1024 * 1024)
        app.router.add_post("/v1/chat/completions", self.chat)
        app.router.add_post("/chat/completions", self.chat)
        app.router.add_get("/v1/models", self.list_models)
        app.router.add_get("/health", self.health)
        app.router.add_post("/_sim/flush", self.flush)
        return app

    async def health(self, request: web.Request) -> web.Response:
        return web.json_response({"status": "ok", "requests": sum(self.outcomes.values()),
                                  "in_flight": self.in_flight})

    async def list_models(self, request: web.Request) -> web.Response:
        data = [{"id": m, "object": "model", "created": 0, "owned_by": "judge-sim"}
                for m in self.models]
        return web.json_response({"object": "list", "data": data})

    async def flush(self, request: web.Request) -> web.Response:
        self.log.flush()
        return web.json_response({"requests": sum(self.outcomes.values()),
                                  "outcomes": dict(self.outcomes)})

    def _record(self, entry: dict[str, Any], outcome: str, **fields: Any) -> None:
        self.outcomes[outcome] += 1
        entry["outcome"] = outcome
        entry.update(fields)
        self.log.add(entry)

    async def chat(self, request: web.Request) -> web.StreamResponse:
        self.in_flight += 1
        try:
            return await self._chat(request)
        finally:
            self.in_flight -= 1

    async def _chat(self, request: web.Request) -> web.StreamResponse:
        entry: dict[str, Any] = {"t": round(time.time(), 6), "mono_ns": time.monotonic_ns()}
        if not request.headers.get("Authorization", "").startswith("Bearer "):
            self._record(entry, "401", status=401)
            return _error(401, "missing 'Authorization: Bearer <key>' header")
        try:
            body = json.loads(await request.read())
        except ValueError:
            body = None
        problem = _check_request(body) if body is not None else "request body is not valid JSON"
        if problem:
            self._record(entry, "400", status=400, error=problem)
            return _error(400, problem)
        rejected = check_format(self.mode, body)
        if rejected is not None:  # validated before any work, like the real servers
            status, kind, message = rejected
            sent = body.get("response_format")
            self._record(entry, "invalid", status=status, error=message[:300],
                         response_format=sent.get("type") if isinstance(sent, dict) else None)
            return _error(status, message, kind=kind)
        h = digest(body)[:20]
        attempt = self.attempts.get(h, 0)
        self.attempts[h] = attempt + 1
        model = body["model"].removeprefix("sim/")
        stream = bool(body.get("stream"))
        entry.update(hash=h, attempt=attempt, model=model, stream=stream)
        d = decide(self.faults, h, attempt, wants_json=wants_json(body))
        entry["delay_ms"] = round(d.delay_s * 1000, 3)
        if d.outcome == "hang":
            return await self._hang(request, entry)
        if d.delay_s:
            await asyncio.sleep(d.delay_s)
        if d.outcome == "reset":
            self._record(entry, "reset")
            _abort(request)
            return web.Response(status=500)  # never reaches the client
        if d.outcome in ("429", "500", "503"):
            return self._fault_response(entry, d)
        return await self._answer(request, entry, body, model, stream, d)

    async def _hang(self, request: web.Request, entry: dict[str, Any]) -> web.StreamResponse:
        self._record(entry, "hang", delay_ms=self.faults.hang_s * 1000)
        try:
            await asyncio.wait_for(self.closing.wait(), timeout=self.faults.hang_s)
        except asyncio.TimeoutError:
            pass
        _abort(request)
        return web.Response(status=504)

    def _fault_response(self, entry: dict[str, Any], d: Decision) -> web.Response:
        status = int(d.outcome)
        if status == 429:
            ra = self.faults.retry_after_s
            self._record(entry, "429", status=429, retry_after=ra, delivered=True)
            return _error(429, "Rate limit reached (simulated). Retry after the given delay.",
                          headers={"Retry-After": f"{ra:g}"})
        self._record(entry, d.outcome, status=status, delivered=True)
        return _error(status, f"Simulated {status} error.")

    async def _answer(self, request: web.Request, entry: dict[str, Any], body: dict,
                      model: str, stream: bool, d: Decision) -> web.StreamResponse:
        params = {k: body[k] for k in PARAM_KEYS if k in body}
        rf = backend_format(self.mode, body)
        if rf is not None:
            params["response_format"] = rf
        sent = body.get("response_format")
        entry["response_format"] = sent.get("type") if isinstance(sent, dict) else None
        try:
            reply = self.backend(model, body["messages"], params)
        except Exception as err:  # a backend bug must not kill the server
            self._record(entry, "error", status=500, error=f"{type(err).__name__}: {err}"[:300])
            return _error(500, f"backend error: {type(err).__name__}")
        text, completion_tokens = reply.text, reply.completion_tokens
        if d.outcome == "malformed" and d.malform is not None:
            text = malform(text, d.malform, d.malform_u)
            completion_tokens = _tokens(text)
            entry["malform"] = d.malform
        usage = {"prompt_tokens": reply.prompt_tokens, "completion_tokens": completion_tokens,
                 "total_tokens": reply.prompt_tokens + completion_tokens}
        rid = f"chatcmpl-{entry['hash'][:16]}-{entry['attempt']}"
        created = int(entry["t"])
        delivered = not _gone(request)
        self._record(entry, d.outcome, status=200, prompt_tokens=usage["prompt_tokens"],
                     completion_tokens=usage["completion_tokens"], delivered=delivered)
        if not stream:
            return web.json_response({
                "id": rid, "object": "chat.completion", "created": created, "model": model,
                "system_fingerprint": "judge-sim",
                "choices": [{"index": 0, "finish_reason": "stop", "logprobs": None,
                             "message": {"role": "assistant", "content": text}}],
                "usage": usage})
        opts = body.get("stream_options")
        include_usage = isinstance(opts, dict) and bool(opts.get("include_usage"))
        return await _stream(request, rid, created, model, text, usage if include_usage else None)


async def _stream(request: web.Request, rid: str, created: int, model: str, text: str,
                  usage: dict | None) -> web.StreamResponse:
    """Send ``text`` as OpenAI SSE chunks, an optional usage chunk, then ``data: [DONE]``."""
    base = {"id": rid, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "judge-sim"}

    def chunk(delta: dict, finish: str | None = None, **extra: Any) -> bytes:
        obj = {**base, "choices": [{"index": 0, "delta": delta, "finish_reason": finish,
                                    "logprobs": None}], **extra}
        return b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n"

    parts = [chunk({"role": "assistant", "content": ""})]
    parts += [chunk({"content": text[i:i + _STREAM_PIECE]})
              for i in range(0, len(text), _STREAM_PIECE)]
    parts.append(chunk({}, "stop"))
    if usage is not None:
        obj = {**base, "choices": [], "usage": usage}
        parts.append(b"data: " + json.dumps(obj, separators=(",", ":")).encode() + b"\n\n")
    parts.append(b"data: [DONE]\n\n")
    resp = web.StreamResponse(headers={"Content-Type": "text/event-stream",
                                       "Cache-Control": "no-cache"})
    try:
        await resp.prepare(request)
        for part in parts:
            await resp.write(part)
        await resp.write_eof()
    except (ConnectionError, RuntimeError):
        pass  # client went away mid-stream
    return resp


async def serve(faults: FaultConfig, *, host: str = "127.0.0.1", port: int = 8000,
                backend: str = "sim", log_path: str | Path | None = None,
                profile: str | None = None, flush_s: float = 0.2, mode: str = "openai",
                stop: asyncio.Event | None = None,
                on_ready: Callable[[str], None] | None = None) -> None:
    """Serve until ``stop`` is set (or SIGTERM/SIGINT when ``stop`` is None)."""
    if mode not in MODES:
        raise UsageError(f"unknown mode {mode!r}", field="--mode",
                         hint=f"use one of: {', '.join(MODES)}")
    complete = load_backend(backend, profile)
    complete("generator", [{"role": "user", "content": "warm-up"}], {})  # load the world now
    try:
        log = RequestLog(log_path)
    except OSError as err:
        raise UsageError(f"cannot open the request log: {err.strerror or err}", path=log_path,
                         field="--log", hint="give a writable file path") from err
    state = SimServer(faults, complete, log, mode=mode)
    runner = web.AppRunner(state.app(), access_log=None, shutdown_timeout=1.0)
    await runner.setup()
    loop = asyncio.get_running_loop()
    if stop is None:
        stop = asyncio.Event()
        for sig in (signal.SIGTERM, signal.SIGINT):
            loop.add_signal_handler(sig, stop.set)
    try:
        site = web.TCPSite(runner, host, port, backlog=2048)
        await site.start()
        bound = runner.addresses[0]
        url = f"http://[{host}]:{bound[1]}" if ":" in host else f"http://{host}:{bound[1]}"
        flusher = asyncio.create_task(_flush_every(log, flush_s))
        if on_ready is not None:
            on_ready(url)
        await stop.wait()
        state.closing.set()
        flusher.cancel()
    finally:
        await runner.cleanup()
        log.close()


async def _flush_every(log: RequestLog, seconds: float) -> None:
    while True:
        await asyncio.sleep(seconds)
        log.flush()


def run_server(faults: FaultConfig, **kwargs: Any) -> None:
    """Blocking entry point: prints the ready line with the URL, serves until SIGTERM."""

    def ready(url: str) -> None:
        print(f"{READY_PREFIX}{url}", flush=True)

    try:
        import uvloop  # optional, faster event loop
        runner: Callable[..., Any] = uvloop.run
    except ImportError:
        runner = asyncio.run
    runner(serve(faults, on_ready=ready, **kwargs))
    print("judge serve-sim: stopped", file=sys.stderr, flush=True)
