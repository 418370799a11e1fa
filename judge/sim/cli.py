"""``judge serve-sim``: the local OpenAI-compatible server with fault injection.

Mounted on the ``judge`` CLI by the sim plugin's ``register_commands`` hook; also runnable as
``python -m judge.sim.cli`` (what the test fixture does, to avoid the main CLI's imports).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from pydantic import ValidationError

from judge._cli.common import guard
from judge.errors import UsageError
from judge.sim.faults import FaultConfig
from judge.sim.server import run_server

Opt = typer.Option


def serve_sim(
    host: Annotated[str, Opt(help="Interface to bind (loopback).")] = "127.0.0.1",
    port: Annotated[int, Opt(help="TCP port; 0 picks a free one.")] = 8000,
    backend: Annotated[str, Opt(help="sim (the simulated world) or echo.")] = "sim",
    mode: Annotated[str, Opt(help="Treat response_format like: openai, vllm, llama.cpp, "
                                  "llama-cpp-python (json_schema is a 500 validation error; "
                                  "json_object + schema works) or text (none).")] = "openai",
    sim_profile: Annotated[str | None, Opt(help="Sim profile YAML (sim backend).")] = None,
    log: Annotated[Path | None, Opt(help="Append one JSONL line per request here.")] = None,
    latency_ms: Annotated[float, Opt(min=0.0, help="Fixed latency per request.")] = 0.0,
    jitter_ms: Annotated[float, Opt(min=0.0, help="Uniform +/- jitter on latency.")] = 0.0,
    rate_429: Annotated[float, Opt(min=0.0, max=1.0, help="429 rate.")] = 0.0,
    retry_after_s: Annotated[float, Opt(min=0.0, help="Retry-After on 429s (s).")] = 1.0,
    rate_500: Annotated[float, Opt(min=0.0, max=1.0, help="500 rate.")] = 0.0,
    rate_503: Annotated[float, Opt(min=0.0, max=1.0, help="503 rate.")] = 0.0,
    rate_reset: Annotated[float, Opt(min=0.0, max=1.0, help="Connection-reset rate.")] = 0.0,
    rate_hang: Annotated[float, Opt(min=0.0, max=1.0, help="Hang rate.")] = 0.0,
    hang_s: Annotated[float, Opt(min=0.001, help="How long a hang lasts (s).")] = 600.0,
    rate_malformed: Annotated[float, Opt(
        min=0.0, max=1.0, help="Malformed-JSON rate (only requests asking for JSON).")] = 0.0,
    seed: Annotated[int, Opt(help="Seed of the fault pattern.")] = 0,
) -> None:
    """Serve OpenAI chat completions from the simulated models, with injected faults."""
    guard(lambda: _serve(host, port, backend, sim_profile, log, mode, dict(
        latency_ms=latency_ms, jitter_ms=jitter_ms, rate_429=rate_429,
        retry_after_s=retry_after_s, rate_500=rate_500, rate_503=rate_503,
        rate_reset=rate_reset, rate_hang=rate_hang, hang_s=hang_s,
        rate_malformed=rate_malformed, seed=seed)))


def _serve(host: str, port: int, backend: str, profile: str | None, log: Path | None,
           mode: str, faults: dict) -> None:
    try:
        config = FaultConfig(**faults)
    except ValidationError as err:
        msg = err.errors()[0]["msg"].removeprefix("Value error, ")
        raise UsageError(msg, field="fault options", hint="lower the --rate-* values") from err
    try:
        run_server(config, host=host, port=port, backend=backend, log_path=log, profile=profile,
                   mode=mode)
    except OSError as err:
        raise UsageError(f"cannot serve on {host}:{port}: {err.strerror or err}",
                         field="--port", hint="pick another port, or 0 for a free one") from err


def main() -> None:
    """Standalone entry point (``python -m judge.sim.cli``)."""
    app = typer.Typer(add_completion=False, pretty_exceptions_enable=False)
    app.command()(serve_sim)
    app()


if __name__ == "__main__":
    main()
