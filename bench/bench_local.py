"""Pipeline overhead on a slow real endpoint: `judge generate` vs a bare client, same calls.

Starts the local llama-cpp-python server (SmolLM2-135M, the `local` extra), expands a
query set once, then alternates two arms ``--reps`` times, each making the same chat calls
(same messages, temperature 0, same max_tokens, so the same tokens are decoded) at the same
concurrency:

- ``bare``: the ``openai`` SDK's AsyncOpenAI, a semaphore, nothing else;
- ``pipeline``: ``judge.run(config, stages=["generate"])`` into a fresh run directory
  (litellm, retries, records, JSONL, manifest; the cache off).

Overhead = pipeline wall time / bare wall time - 1 (target <= 5%). Numbers go in
docs/LOCAL_MODEL.md. Usage::

    python bench/bench_local.py --queries 16 --max-tokens 32 --concurrency 2 --reps 2
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def config(tmp: Path, name: str, base_url: str, model: str, args: argparse.Namespace) -> Path:
    cfg = {"name": name, "output_dir": str(tmp / "runs"), "seed": 1,
           "queries": {"scenarios": [str(ROOT / "datasets/scenarios/hiring_callback_bm.yaml"),
                                     str(ROOT / "datasets/scenarios/tenant_screening.yaml")],
                       "axes": ["race", "dialect"], "limit": args.queries // 2},
           "generators": [{"model": model, "api_base": base_url,
                           "concurrency": args.concurrency, "timeout": 600,
                           "params": {"temperature": 0, "max_tokens": args.max_tokens}}],
           "cache": {"enabled": False}, "executor": {"kind": "local"}}
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def pipeline_arm(path: Path) -> tuple[float, int]:
    import judge
    from judge.config import load_config

    run_dir = load_config(path).run_dir
    shutil.rmtree(run_dir, ignore_errors=True)
    judge.run(path, stages=["queries"])  # expansion is not what this measures
    t0 = time.perf_counter()
    judge.run(path, stages=["generate"])
    wall = time.perf_counter() - t0
    gens = [json.loads(line) for line in (run_dir / "generations.jsonl").open()]
    assert all(g["status"] == "ok" for g in gens), [g["error"] for g in gens if g["error"]]
    return wall, sum(g["usage"]["completion_tokens"] for g in gens)


def bare_arm(base_url: str, alias: str, messages: list[list[dict]], args: argparse.Namespace
             ) -> tuple[float, int]:
    import openai

    async def go() -> tuple[float, int]:
        client = openai.AsyncOpenAI(base_url=base_url, api_key="not-needed", max_retries=0,
                                    timeout=600)
        sem = asyncio.Semaphore(args.concurrency)

        async def one(msgs: list[dict]) -> int:
            async with sem:
                r = await client.chat.completions.create(
                    model=alias, messages=msgs, temperature=0, max_tokens=args.max_tokens)
                return r.usage.completion_tokens

        t0 = time.perf_counter()
        tokens = await asyncio.gather(*(one(m) for m in messages))
        wall = time.perf_counter() - t0
        await client.close()
        return wall, sum(tokens)

    return asyncio.run(go())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--queries", type=int, default=16)
    ap.add_argument("--max-tokens", type=int, default=32)
    ap.add_argument("--concurrency", type=int, default=2)
    ap.add_argument("--reps", type=int, default=2)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args()

    from judge.config import load_config
    from judge.llm.local_server import start_local_server
    from judge.records import Query

    with tempfile.TemporaryDirectory() as tmp_s, start_local_server() as srv:
        tmp = Path(tmp_s)
        path = config(tmp, "bench-local", srv.base_url, srv.model, args)
        import judge

        judge.run(path, stages=["queries"])
        run_dir = load_config(path).run_dir
        queries = [Query.model_validate_json(line) for line in
                   (run_dir / "queries.jsonl").open()]
        messages = [q.messages() for q in queries]
        bare_arm(srv.base_url, srv.alias, messages[:2], args)  # warm-up: model pages in
        from judge.llm.litellm_env import get_litellm

        get_litellm()  # its one-off import (~3.5 s) is not per-call overhead
        rows = []
        for rep in range(args.reps):
            b_wall, b_tok = bare_arm(srv.base_url, srv.alias, messages, args)
            p_wall, p_tok = pipeline_arm(path)
            rows.append({"rep": rep, "bare_s": round(b_wall, 2), "pipeline_s": round(p_wall, 2),
                         "bare_tokens": b_tok, "pipeline_tokens": p_tok,
                         "overhead": round(p_wall / b_wall - 1, 4)})
            print(json.dumps(rows[-1]), flush=True)
    result = {"calls": len(messages), "concurrency": args.concurrency,
              "max_tokens": args.max_tokens, "reps": rows,
              "bare_s_median": statistics.median(r["bare_s"] for r in rows),
              "pipeline_s_median": statistics.median(r["pipeline_s"] for r in rows),
              "overhead_median": statistics.median(r["overhead"] for r in rows),
              "cpus": os.cpu_count()}
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")


if __name__ == "__main__":
    main()
