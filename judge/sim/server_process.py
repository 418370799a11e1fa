"""Start ``judge serve-sim`` as a subprocess on a free loopback port (for tests and benchmarks).

Example::

    with start_server(FaultConfig(rate_429=0.1), backend="echo", log_path=p) as srv:
        client = openai.AsyncOpenAI(base_url=srv.base_url, api_key="test")
        ...
        entries = srv.log_entries()
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from judge.llm._process import terminate
from judge.sim.faults import FaultConfig
from judge.sim.server import READY_PREFIX


@dataclass
class ServerHandle:
    """A running server: ``url`` (no path), ``base_url`` (``url + "/v1"``), its request log."""

    url: str
    log_path: Path | None
    output_path: Path
    proc: subprocess.Popen

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    def flush(self) -> dict[str, Any]:
        """Flush the server's request log; returns ``{"requests": n, "outcomes": {...}}``."""
        req = urllib.request.Request(self.url + "/_sim/flush", data=b"", method="POST")
        with urllib.request.urlopen(req, timeout=10) as resp:
            return json.loads(resp.read())

    def log_entries(self) -> list[dict[str, Any]]:
        """All request-log lines so far (flushes first)."""
        if self.log_path is None:
            raise ValueError("this server was started without a request log")
        self.flush()
        with self.log_path.open(encoding="utf-8") as fh:
            return [json.loads(line) for line in fh if line.strip()]

    def output(self) -> str:
        """Everything the server printed (stdout and stderr)."""
        return self.output_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 10.0) -> int:
        """SIGTERM and wait (SIGKILL after ``timeout``); returns the exit code."""
        return terminate(self.proc, timeout)


def server_command(faults: FaultConfig, *, backend: str, log_path: Path | None,
                   port: int = 0, extra: list[str] | None = None) -> list[str]:
    """The argv that runs the server with ``faults``."""
    cmd = [sys.executable, "-m", "judge.sim.cli", "--host", "127.0.0.1", "--port", str(port),
           "--backend", backend, *faults.cli_args()]
    if log_path is not None:
        cmd += ["--log", str(log_path)]
    return cmd + (extra or [])


def _wait_ready(proc: subprocess.Popen, output: Path, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        text = output.read_text(encoding="utf-8", errors="replace") if output.exists() else ""
        for line in text.splitlines():
            if line.startswith(READY_PREFIX):
                return line[len(READY_PREFIX):].strip()
        if proc.poll() is not None:
            raise RuntimeError(f"serve-sim exited with code {proc.returncode}: {text.strip()}")
        time.sleep(0.02)
    proc.kill()
    raise RuntimeError(f"serve-sim not ready after {timeout:g} s: {output.read_text()}")


@contextmanager
def start_server(faults: FaultConfig | None = None, *, backend: str = "sim",
                 log_path: str | Path | None = None, workdir: str | Path | None = None,
                 extra_args: list[str] | None = None,
                 ready_timeout: float = 60.0) -> Iterator[ServerHandle]:
    """Run the server in a subprocess until the block exits; yields a :class:`ServerHandle`."""
    with tempfile.TemporaryDirectory(prefix="serve-sim-") as tmp:
        out = Path(workdir or tmp) / "serve-sim.out"
        log = Path(log_path) if log_path is not None else None
        env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "PYTHONUNBUFFERED": "1"}
        with out.open("w") as fh:
            proc = subprocess.Popen(
                server_command(faults or FaultConfig(), backend=backend, log_path=log,
                               extra=extra_args),
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, env=env)
        handle = None
        try:
            url = _wait_ready(proc, out, ready_timeout)
            handle = ServerHandle(url, log, out, proc)
            yield handle
        finally:
            if handle is not None:
                handle.stop()
            elif proc.poll() is None:
                proc.kill()
                proc.wait()
