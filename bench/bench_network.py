"""The pipeline over HTTP, side by side with a bare litellm loop, the raw openai client and peers.

Every measurement gets its own fresh ``judge serve-sim`` (sim backend, no faults, the given
latency), and calls are counted in that server's request log. Each item is two sequential
calls: the generator answers a query, then the judge scores the answer on a rubric.

1. Overhead: generate+score items/s of the pipeline (its own stage time), of a bare
   ``litellm.acompletion`` loop and of the raw ``openai.AsyncOpenAI`` client making the
   same calls at the same concurrency. Targets: pipeline >= 0.9x bare litellm
   (stretch: >= 0.8x raw openai).
2. Peers: the same N samples with a model-graded score through our pipeline (a whole
   process: imports, preflight, run), inspect_ai (``inspect eval`` with ``model_graded_qa``,
   installed into .venv-bench-inspect/) and promptfoo (``llm-rubric``, installed with npm
   into bench/.peers/promptfoo/). Wall time and calls made. Target: faster than both, and
   within 1.25x of the ideal at 200 ms (N / concurrency x 2 calls x latency).
3. Resume: re-running a finished run makes 0 calls and takes <= 5% of the first run's time.

    .venv/bin/python bench/bench_network.py [--n 2000] [--concurrency 64]
        [--latency-ms 0 200] [--resume-n 10000] [--no-peers] [--json out.json]

``run_network(...)`` returns the same numbers as a dict for ``bench/run.py``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
BENCH = Path(__file__).resolve().parent
ROOT = BENCH.parent
sys.path.insert(0, str(BENCH))

from bench_pipeline import write_queries  # noqa: E402

from judge.sim.faults import FaultConfig  # noqa: E402
from judge.sim.server_process import start_server  # noqa: E402

API_KEY = "bench-not-a-secret"  # any value: the local sim server checks none
RUBRIC = "answer_quality"
INSPECT_VERSION = "0.3.285"
INSPECT_VENV = ROOT / ".venv-bench-inspect"
PROMPTFOO_DIR = BENCH / ".peers" / "promptfoo"
PEER_TIMEOUT_S = 600
TOOLS = ("pipeline (default)", "pipeline", "pipeline (overlap)", "pipeline (processes)",
         "bare litellm", "raw openai", "inspect_ai", "promptfoo")
# the pipeline rows: no executor setting (the default, executor.kind auto); the local
# executor; overlapped stages; overlapped stages in worker processes (the default count,
# twice the CPUs; the total concurrency is the same in every row)
PIPELINES = {"pipeline (default)": None,
             "pipeline": {"kind": "local"},
             "pipeline (overlap)": {"kind": "local", "overlap": True},
             "pipeline (processes)": {"kind": "processes", "overlap": True}}


# ---------------------------------------------------------------- our pipeline

def pipeline_config(tmp: Path, name: str, queries: Path, base_url: str | None,
                    concurrency: int, executor: dict[str, Any] | None = None) -> Path:
    """A run config: openai/generator + openai/judge at ``base_url`` (or sim/ in-process),
    with the given ``executor`` section (None: no section, the config default)."""
    import yaml

    def model(role: str) -> dict[str, Any]:
        if base_url is None:
            return {"model": f"sim/{role}", "concurrency": concurrency}
        return {"model": f"openai/{role}", "api_base": base_url, "concurrency": concurrency,
                "timeout": 120}

    judge = {**model("judge"), "structured_output": "json_schema"}
    cfg = {"name": name, "output_dir": str(tmp / "runs"), "seed": 1,
           "queries": {"path": str(queries)}, "generators": [model("generator")],
           "judges": [judge], "rubrics": [RUBRIC], "cache": {"enabled": False},
           "human_labels": None, "flush_every": 256}
    if executor is not None:
        cfg["executor"] = executor
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg))
    return path


PIPELINE_CHILD = """
import json, sys, time
t0 = time.perf_counter()
from judge.config import load_config
from judge.pipeline import open_run, run_stages
cfg = load_config(sys.argv[1])
warm = len(sys.argv) > 2
if warm:  # import litellm (and start the workers' forkserver) before the clock starts
    from judge.llm.litellm_env import get_litellm
    get_litellm()
    if cfg.executor.kind in ("processes", "auto"):  # auto picks processes at this size
        from judge.executors.processes import ProcessExecutor
        ex = ProcessExecutor.connect(cfg)
        p = ex.mp.Process(target=int)
        p.start()
        p.join()
t_warm = time.perf_counter() - t0
res = run_stages(open_run(cfg), ["generate", "score"])
print(json.dumps({"stage_s": res["generate"]["seconds"] + res["score"]["seconds"],
                  "warm_s": t_warm if warm else None,
                  "generated": res["generate"]["written"], "judged": res["score"]["written"]
                            + res["generate"]["extra"].get("judged_inline", {}).get("written", 0),
                  "skipped": res["generate"]["skipped"] + res["score"]["skipped"],
                  "errors": res["generate"]["errors"] + res["score"]["errors"],
                  "in_process_s": time.perf_counter() - t0,
                  "litellm_imported": "litellm" in sys.modules}))
from judge.llm.litellm_env import can_exit_now, exit_now
if can_exit_now():  # end as the judge command does (judge.cli.main): no interpreter teardown
    exit_now(0)
"""


def run_pipeline_process(cfg: Path, warm: bool = False) -> dict[str, Any]:
    """Run generate+score in a fresh process; its stage time and the whole process's wall.

    With ``warm``, litellm is imported (and the processes executor's forkserver started)
    before the stages' clock starts, as the bare client loops import and warm up before
    theirs: the stage time is then the steady-state cost of the calls. The wall time always
    includes everything."""
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", "OPENAI_API_KEY": API_KEY}
    t0 = time.perf_counter()
    r = subprocess.run([sys.executable, "-c", PIPELINE_CHILD, str(cfg), *(["warm"] * warm)],
                       capture_output=True, text=True, env=env, cwd=ROOT,
                       timeout=PEER_TIMEOUT_S)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"pipeline run failed: {r.stderr[-2000:]}")
    return {**json.loads(r.stdout.strip().splitlines()[-1]), "wall_s": wall}


# ---------------------------------------------------------------- bare clients

def _items(queries: Path) -> tuple[list[Any], Any, dict[str, Any]]:
    from judge.records import Query
    from judge.rubric import load_rubric

    rb = load_rubric(RUBRIC)
    qs = [Query.model_validate_json(line) for line in queries.read_text().splitlines()]
    return qs, rb, rb.response_format(1)


async def _drive(qs: list[Any], item: Any, concurrency: int) -> float:
    sem = asyncio.Semaphore(concurrency)

    async def one(q: Any) -> None:
        async with sem:
            await item(q)

    await asyncio.gather(*(one(q) for q in qs[:concurrency]))  # warm-up: open connections
    t0 = time.perf_counter()
    await asyncio.gather(*(one(q) for q in qs))
    return t0


def timed(coro: Any) -> float:
    """Seconds from the end of the warm-up to the return of ``asyncio.run``.

    Includes the loop's shutdown, where litellm drains its logging queue, as the
    pipeline's stage time does."""
    t0 = asyncio.run(coro)
    return time.perf_counter() - t0


async def bare_litellm(base_url: str, queries: Path, concurrency: int) -> float:
    """generate then judge per item through ``litellm.acompletion``, no pipeline."""
    from judge.llm.litellm_env import get_litellm

    litellm = get_litellm()
    qs, rb, fmt = _items(queries)
    kw = {"api_base": base_url, "api_key": API_KEY, "num_retries": 0}

    async def item(q: Any) -> None:
        g = await litellm.acompletion(model="openai/generator", messages=q.messages(), seed=1,
                                      **kw)
        msgs = rb.render(query=q.text, responses=[g.choices[0].message.content])
        await litellm.acompletion(model="openai/judge", messages=msgs, temperature=0, seed=2,
                                  response_format=fmt, **kw)

    return await _drive(qs, item, concurrency)


async def raw_openai(base_url: str, queries: Path, concurrency: int) -> float:
    """The same calls through ``openai.AsyncOpenAI`` (the practical limit)."""
    import openai

    qs, rb, fmt = _items(queries)
    client = openai.AsyncOpenAI(base_url=base_url, api_key=API_KEY, max_retries=0)

    async def item(q: Any) -> None:
        g = await client.chat.completions.create(model="generator", messages=q.messages(),
                                                 seed=1)
        msgs = rb.render(query=q.text, responses=[g.choices[0].message.content])
        await client.chat.completions.create(model="judge", messages=msgs, temperature=0,
                                             seed=2, response_format=fmt)

    try:
        return await _drive(qs, item, concurrency)
    finally:
        await client.close()


# ---------------------------------------------------------------- peers

def _run_peer(cmd: list[str], env: dict[str, str], cwd: Path) -> tuple[float, str]:
    t0 = time.perf_counter()
    r = subprocess.run(cmd, capture_output=True, text=True, env=env, cwd=cwd,
                       timeout=PEER_TIMEOUT_S)
    wall = time.perf_counter() - t0
    if r.returncode != 0:
        raise RuntimeError(f"{cmd[0]} exited {r.returncode}: {(r.stderr or r.stdout)[-1500:]}")
    return wall, r.stdout


def ensure_inspect() -> Path | None:
    """inspect_ai in its own venv (never a dependency of judge); None if it can't install."""
    exe = INSPECT_VENV / "bin" / "inspect"
    if exe.exists():
        return exe
    try:
        subprocess.run([sys.executable, "-m", "venv", str(INSPECT_VENV)], check=True)
        subprocess.run([str(INSPECT_VENV / "bin" / "pip"), "install", "-q",
                        f"inspect_ai=={INSPECT_VERSION}", "openai"], check=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as err:
        print(f"  inspect_ai: skipped, could not install ({err})")
        return None
    return exe


INSPECT_TASK = '''
import json
from inspect_ai import Task, task
from inspect_ai.dataset import Sample
from inspect_ai.scorer import model_graded_qa
from inspect_ai.solver import generate

@task
def bench():
    with open({path!r}) as fh:
        samples = [Sample(input=json.loads(line)["text"], target="A helpful, specific and "
                          "fair answer to the question.") for line in fh]
    return Task(dataset=samples, solver=generate(),
                scorer=model_graded_qa(model="openai-api/sim/judge"))
'''


def run_inspect(exe: Path, base_url: str, queries: Path, concurrency: int, tmp: Path
                ) -> dict[str, Any]:
    task = tmp / "inspect_task.py"
    task.write_text(INSPECT_TASK.format(path=str(queries)))
    env = {**os.environ, "SIM_BASE_URL": base_url, "SIM_API_KEY": API_KEY,
           "INSPECT_LOG_DIR": str(tmp / "inspect-logs"), "INSPECT_DISPLAY": "none"}
    wall, _ = _run_peer([str(exe), "eval", task.name, "--model", "openai-api/sim/generator",
                         "--max-connections", str(concurrency), "--display", "none",
                         "--no-log-samples"], env, tmp)
    return {"wall_s": wall}


def ensure_promptfoo() -> Path | None:
    """promptfoo from npm into bench/.peers/promptfoo; None (with a message) without npm."""
    exe = PROMPTFOO_DIR / "node_modules" / ".bin" / "promptfoo"
    if exe.exists():
        return exe
    npm = shutil.which("npm")
    if npm is None:
        print("  promptfoo: skipped, npm is not installed (apt-get install npm to include it)")
        return None
    PROMPTFOO_DIR.mkdir(parents=True, exist_ok=True)
    try:
        subprocess.run([npm, "init", "-y"], cwd=PROMPTFOO_DIR, check=True, capture_output=True)
        subprocess.run([npm, "install", "--no-fund", "--no-audit", "promptfoo"],
                       cwd=PROMPTFOO_DIR, check=True, capture_output=True, timeout=900)
    except (subprocess.SubprocessError, OSError) as err:
        print(f"  promptfoo: skipped, npm install failed ({err})")
        return None
    return exe


def run_promptfoo(exe: Path, base_url: str, queries: Path, concurrency: int, tmp: Path
                  ) -> dict[str, Any]:
    import yaml

    def provider(model: str) -> dict[str, Any]:
        return {"id": f"openai:chat:{model}", "config": {"apiBaseUrl": base_url,
                                                        "apiKey": API_KEY}}

    tests = [{"vars": {"question": json.loads(line)["text"]},
              "assert": [{"type": "llm-rubric",
                          "value": "A helpful, specific and fair answer to the question."}]}
             for line in queries.read_text().splitlines()]
    cfg = {"description": "judge bench", "prompts": ["{{question}}"],
           "providers": [provider("generator")],
           "defaultTest": {"options": {"provider": provider("judge")}}, "tests": tests}
    path = tmp / "promptfooconfig.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    env = {**os.environ, "PROMPTFOO_DISABLE_TELEMETRY": "1", "PROMPTFOO_DISABLE_UPDATE": "1",
           "PROMPTFOO_CONFIG_DIR": str(tmp / "promptfoo-home"), "OPENAI_API_KEY": API_KEY,
           "PROMPTFOO_DISABLE_SHARING": "1", "NO_COLOR": "1",
           # its file logger throws "write after end" at exit on long runs (0.121.20)
           "PROMPTFOO_DISABLE_DEBUG_LOG": "1", "PROMPTFOO_DISABLE_ERROR_LOG": "1"}
    wall, _ = _run_peer([str(exe), "eval", "-c", str(path), "-j", str(concurrency),
                         "--no-cache", "--no-table", "--no-write", "--no-progress-bar"],
                        env, tmp)
    return {"wall_s": wall}


# ---------------------------------------------------------------- orchestration

def measure(name: str, latency_ms: float, tmp: Path, fn: Any) -> dict[str, Any]:
    """Run ``fn(base_url)`` against a fresh server; add the calls it made (server log)."""
    with start_server(FaultConfig(latency_ms=latency_ms), backend="sim",
                      log_path=tmp / f"{name}-{latency_ms:g}.jsonl") as srv:
        out = fn(srv.base_url)
        calls_total = srv.flush()["requests"]
    runs = out.pop("runs", 1)  # the pipeline row runs twice (cold, then warm) per server
    calls = calls_total // runs if calls_total % runs == 0 else calls_total / runs
    print(f"  {latency_ms:>5g} ms  {name:<20} {out['wall_s']:7.2f} s  {calls:6} calls",
          flush=True)
    return {"name": name, "latency_ms": latency_ms, "calls": calls, **out}


def run_network(n: int = 2000, concurrency: int = 64, latencies_ms: tuple[float, ...] = (0, 200),
                resume_n: int = 10000, peers: bool = True,
                tools: set[str] | None = None) -> dict[str, Any]:
    """All rows (or only ``tools``: pipeline, bare litellm, raw openai, inspect_ai,
    promptfoo) at every latency, then the resume bench."""
    rows: list[dict[str, Any]] = []
    want = tools or set(TOOLS)
    inspect_exe = ensure_inspect() if peers and "inspect_ai" in want else None
    promptfoo_exe = ensure_promptfoo() if peers and "promptfoo" in want else None
    with tempfile.TemporaryDirectory(prefix="bench-net-") as d:
        tmp = Path(d)
        qp = tmp / "queries.jsonl"
        write_queries(n, qp)
        for lat in latencies_ms:
            for k, (name, ex) in enumerate(PIPELINES.items()):
                def pipe(url: str, lat: float = lat, ex: dict | None = ex, k: int = k) -> dict[str, Any]:
                    cfg = pipeline_config(tmp, f"net{lat:g}-{k}", qp, url, concurrency, ex)
                    cold = run_pipeline_process(cfg)  # the peer comparison: wall, cold start
                    shutil.rmtree(tmp / "runs" / f"net{lat:g}-{k}")
                    warm = run_pipeline_process(cfg, warm=True)  # the overhead comparison
                    return {**cold, "items_per_s": n / warm["stage_s"],
                            "warm_stage_s": warm["stage_s"], "cold_stage_s": cold["stage_s"],
                            "warm_wall_s": warm["wall_s"], "runs": 2}

                if name in want:
                    rows.append(measure(name, lat, tmp, pipe))
            for name, fn in (("bare litellm", bare_litellm), ("raw openai", raw_openai)):
                if name not in want:
                    continue

                def client(url: str, fn: Any = fn) -> dict[str, Any]:
                    s = timed(fn(url, qp, concurrency))
                    return {"wall_s": s, "items_per_s": n / s}

                row = measure(name, lat, tmp, client)
                row["calls"] -= 2 * concurrency  # warm-up calls are not part of the timing
                rows.append(row)
            for name, exe, fn in (("inspect_ai", inspect_exe, run_inspect),
                                  ("promptfoo", promptfoo_exe, run_promptfoo)):
                if exe is not None:
                    try:
                        rows.append(measure(name, lat, tmp,
                                            lambda url, fn=fn, exe=exe: fn(exe, url, qp,
                                                                           concurrency, tmp)))
                    except (RuntimeError, subprocess.TimeoutExpired) as err:
                        print(f"  {name}: failed: {str(err)[:300]}")
                        rows.append({"name": name, "latency_ms": lat, "error": str(err)[:300]})
        resume = run_resume(tmp, resume_n, concurrency) if resume_n else None
    return summarize(rows, resume, n, concurrency)


def run_resume(tmp: Path, n: int, concurrency: int) -> dict[str, Any]:  # noqa: D401
    """A finished run, re-run: calls made and time taken, against the server at 0 ms."""
    qp = tmp / "resume-queries.jsonl"
    write_queries(n, qp)
    with start_server(FaultConfig(), backend="sim", log_path=tmp / "resume.jsonl") as srv:
        cfg = pipeline_config(tmp, "resume", qp, srv.base_url, concurrency)
        first = run_pipeline_process(cfg)
        calls_first = srv.flush()["requests"]
        again = run_pipeline_process(cfg)
        calls_again = srv.flush()["requests"] - calls_first
    out = {"items": n, "first_wall_s": first["wall_s"], "first_calls": calls_first,
           "rerun_wall_s": again["wall_s"], "rerun_stage_s": again["stage_s"],
           "rerun_calls": calls_again, "rerun_skipped": again["skipped"],
           "rerun_imported_litellm": again["litellm_imported"],
           "time_ratio": again["wall_s"] / first["wall_s"]}
    print(f"  resume {n} items: first {first['wall_s']:.1f} s ({calls_first} calls), "
          f"re-run {again['wall_s']:.2f} s ({calls_again} calls), "
          f"ratio {out['time_ratio']:.3f} (target <= 0.05, 0 calls)", flush=True)
    return out


def summarize(rows: list[dict[str, Any]], resume: dict[str, Any] | None, n: int,
              concurrency: int) -> dict[str, Any]:
    for lat in {r["latency_ms"] for r in rows}:
        at = {r["name"]: r for r in rows if r["latency_ms"] == lat and "error" not in r}
        ideal = n / concurrency * 2 * lat / 1000 if lat else None
        for r in at.values():
            if "items_per_s" in r:
                for ref in ("bare litellm", "raw openai"):
                    if ref in at:
                        r[f"ratio_to_{ref.replace(' ', '_')}"] = (
                            r["items_per_s"] / at[ref]["items_per_s"])
            if ideal:
                r["ideal_s"] = ideal
                r["vs_ideal"] = r["wall_s"] / ideal
    return {"benchmark": "network", "n": n, "concurrency": concurrency, "cpus": os.cpu_count(),
            "rows": rows, "resume": resume}


def format_table(result: dict[str, Any]) -> str:
    lines = ["| latency ms | tool | wall s | calls | items/s (stages) | vs bare litellm |"
             " vs raw openai | wall / ideal |", "|---:|---|---:|---:|---:|---:|---:|---:|"]

    def f(v: Any, fmt: str) -> str:
        return "" if v is None else format(v, fmt)

    for r in result["rows"]:
        if "error" in r:
            lines.append(f"| {r['latency_ms']:g} | {r['name']} | failed | | | | | |")
            continue
        lines.append(
            f"| {r['latency_ms']:g} | {r['name']} | {r['wall_s']:.1f} | {r['calls']} | "
            f"{f(r.get('items_per_s'), '.1f')} | {f(r.get('ratio_to_bare_litellm'), '.2f')} | "
            f"{f(r.get('ratio_to_raw_openai'), '.2f')} | {f(r.get('vs_ideal'), '.2f')} |")
    return "\n".join(lines)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--latency-ms", type=float, nargs="+", default=[0.0, 200.0])
    ap.add_argument("--resume-n", type=int, default=10000, help="0 skips the resume bench")
    ap.add_argument("--no-peers", action="store_true", help="skip inspect_ai and promptfoo")
    ap.add_argument("--only", nargs="+", choices=TOOLS, help="run only these rows")
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    res = run_network(a.n, a.concurrency, tuple(a.latency_ms), a.resume_n, not a.no_peers,
                      set(a.only) if a.only else None)
    print(format_table(res))
    if a.json:
        a.json.write_text(json.dumps(res, indent=2) + "\n")


if __name__ == "__main__":
    main()
