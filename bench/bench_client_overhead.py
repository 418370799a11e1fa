"""Client overhead against the local server: raw openai vs bare litellm (and a bare aiohttp probe).

Starts ``judge serve-sim`` once per latency, drives N chat calls at a fixed concurrency with
each client, and prints requests/s, client CPU per call and the ratios. The bare aiohttp
client shows the server's own ceiling, so a client number is not mistaken for a server limit.

    .venv/bin/python bench/bench_client_overhead.py [--n 2000] [--concurrency 64]
        [--latency-ms 0 200] [--json bench/overhead.json]

``run_overhead(...)`` returns the same numbers as a dict for ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import tempfile
import time
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from judge.sim.faults import FaultConfig  # noqa: E402
from judge.sim.server_process import start_server  # noqa: E402

API_KEY = "bench-not-a-secret"  # any value: the local sim server checks none
MODEL = "generator"
Call = Callable[[int], Awaitable[str]]


def _messages(i: int) -> list[dict[str, str]]:
    return [{"role": "user", "content": f"Question {i}: how should I prepare for my interview?"}]


async def _drive(call: Call, n: int, concurrency: int) -> dict[str, float]:
    """Run calls 0..n-1 with ``concurrency`` workers; wall time, CPU time, errors."""
    next_i = 0
    errors = 0

    async def worker() -> None:
        nonlocal next_i, errors
        while next_i < n:
            i = next_i
            next_i += 1
            try:
                if not await call(i):
                    errors += 1
            except Exception:  # noqa: BLE001 - counted, reported
                errors += 1

    cpu0, t0 = time.process_time(), time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    return {"n": n, "wall_s": wall, "req_per_s": n / wall, "cpu_ms_per_call": 1000 * cpu / n,
            "errors": errors}


async def _raw_openai(base_url: str, n: int, concurrency: int) -> dict[str, float]:
    import openai

    client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)

    async def call(i: int) -> str:
        r = await client.chat.completions.create(model=MODEL, messages=_messages(i))
        return r.choices[0].message.content or ""

    await _drive(call, concurrency, concurrency)  # warm-up: open the connections
    try:
        return await _drive(call, n, concurrency)
    finally:
        await client.close()


async def _bare_litellm(base_url: str, n: int, concurrency: int) -> dict[str, float]:
    import litellm

    litellm.suppress_debug_info = True

    async def call(i: int) -> str:
        r = await litellm.acompletion(model=f"openai/{MODEL}", messages=_messages(i),
                                      api_base=base_url, api_key=API_KEY, num_retries=0)
        return r.choices[0].message.content or ""

    await _drive(call, concurrency, concurrency)
    return await _drive(call, n, concurrency)


async def _bare_aiohttp(base_url: str, n: int, concurrency: int) -> dict[str, float]:
    import aiohttp

    headers = {"Authorization": f"Bearer {API_KEY}"}
    async with aiohttp.ClientSession(headers=headers,
                                     connector=aiohttp.TCPConnector(limit=concurrency)) as s:
        async def call(i: int) -> str:
            body = {"model": MODEL, "messages": _messages(i)}
            async with s.post(base_url + "/chat/completions", json=body) as resp:
                data = await resp.json()
                return data["choices"][0]["message"]["content"] if resp.status == 200 else ""

        await _drive(call, concurrency, concurrency)
        return await _drive(call, n, concurrency)


CLIENTS: dict[str, Callable[[str, int, int], Awaitable[dict[str, float]]]] = {
    "aiohttp (server ceiling)": _bare_aiohttp,
    "raw openai": _raw_openai,
    "bare litellm": _bare_litellm,
}


def _cpu_seconds(pid: int) -> float | None:
    """User+system CPU time of a process (Linux /proc), or None elsewhere."""
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def _backend() -> str:
    try:
        import judge.sim.provider  # noqa: F401
    except ImportError:
        return "echo"
    return "sim"


def run_overhead(n: int = 2000, concurrency: int = 64,
                 latencies_ms: tuple[float, ...] = (0.0, 200.0)) -> dict[str, Any]:
    """Benchmark every client at every latency against a fresh server; a JSON-ready dict."""
    backend = _backend()
    rows: list[dict[str, Any]] = []
    for latency in latencies_ms:
        with tempfile.TemporaryDirectory() as tmp, start_server(
                FaultConfig(latency_ms=latency), backend=backend,
                log_path=Path(tmp) / "requests.jsonl") as srv:
            for name, bench in CLIENTS.items():
                cpu0 = _cpu_seconds(srv.proc.pid)
                res = asyncio.run(bench(srv.base_url, n, concurrency))
                cpu1 = _cpu_seconds(srv.proc.pid)
                server_ms = (None if cpu0 is None or cpu1 is None
                             else 1000 * (cpu1 - cpu0) / (n + concurrency))
                rows.append({"client": name, "latency_ms": latency, **res,
                             "server_cpu_ms_per_call": server_ms})
            calls = srv.flush()["requests"]
        expected = len(CLIENTS) * (n + concurrency)
        if calls != expected:
            raise RuntimeError(f"server saw {calls} calls, expected {expected}")
    for latency in latencies_ms:
        at = {r["client"]: r for r in rows if r["latency_ms"] == latency}
        ideal = concurrency / (latency / 1000) if latency else None
        for r in at.values():
            r["ratio_to_raw_openai"] = r["req_per_s"] / at["raw openai"]["req_per_s"]
            r["ratio_to_bare_litellm"] = r["req_per_s"] / at["bare litellm"]["req_per_s"]
            r["ideal_req_per_s"] = ideal
    return {"benchmark": "client_overhead", "backend": backend, "n": n,
            "concurrency": concurrency, "cpus": os.cpu_count(), "rows": rows}


def format_table(result: dict[str, Any]) -> str:
    """A Markdown table of ``run_overhead`` rows."""
    lines = ["| latency ms | client | req/s | client CPU ms/call | server CPU ms/call |"
             " vs raw openai | vs bare litellm | errors |",
             "|---:|---|---:|---:|---:|---:|---:|---:|"]
    for r in result["rows"]:
        server = r["server_cpu_ms_per_call"]
        lines.append(f"| {r['latency_ms']:g} | {r['client']} | {r['req_per_s']:.0f} | "
                     f"{r['cpu_ms_per_call']:.2f} | "
                     f"{'n/a' if server is None else f'{server:.2f}'} | "
                     f"{r['ratio_to_raw_openai']:.2f} | {r['ratio_to_bare_litellm']:.2f} | "
                     f"{r['errors']} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="calls per client and latency")
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 200.0])
    ap.add_argument("--json", type=Path, help="also write the result here")
    args = ap.parse_args()
    result = run_overhead(args.n, args.concurrency, tuple(args.latency_ms))
    print(f"backend={result['backend']} n={args.n} concurrency={args.concurrency} "
          f"cpus={result['cpus']}")
    print(format_table(result))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
