"""Throughput of the ray executor with 1 vs 2 worker processes, against the local executor.

    .venv/bin/python bench/bench_ray.py [--groups 30] [--api-base URL --generator MODEL
                                         --judge MODEL] [--json out.json]

Each measurement is a fresh run directory (cache off) of the same config (all 60 queries ×
16 samples): ``generate`` then ``score``; calls = generations + judgments. Local and Ray
processes are warmed up first (litellm import, worker start-up; reported, not counted). Ray runs use one local cluster (2 CPUs). Without ``--api-base`` the models are the in-process ``sim/`` provider (zero
latency: throughput is CPU-bound); with it, an OpenAI-compatible server such as the
latency-injecting ``judge serve``. Also measured: the Ray round trip of an empty task, and the
driver's per-record cost of planning shards and appending records, and the fixed cost of a
shard task (from the same run split into 8x more shards; two stages, so 2 × extra shards).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def make_config(out: Path, name: str, args: argparse.Namespace, executor: dict[str, Any]) -> Any:
    from judge.config import RunConfig

    def model(m: str) -> dict[str, Any]:
        spec: dict[str, Any] = {"model": m, "concurrency": args.concurrency}
        if args.api_base:
            spec["api_base"] = args.api_base
        return spec

    return RunConfig.model_validate({
        "name": name, "output_dir": str(out), "seed": 1,
        "queries": {"scenarios": [str(ROOT / "datasets/scenarios/*.yaml")],
                    "limit": args.groups},
        "generators": [{**model(args.generator), "samples": args.samples}],
        "judges": [model(args.judge)], "rubrics": ["decision_dev"],
        "cache": {"enabled": False}, "executor": executor})


def timed_run(cfg: Any) -> dict[str, Any]:
    from judge.pipeline import open_run, run_stages

    ctx = open_run(cfg, check_keys=False)
    run_stages(ctx, ["queries"])
    t0 = time.perf_counter()
    res = run_stages(open_run(cfg, check_keys=False), ["generate", "score"])
    secs = time.perf_counter() - t0
    calls = res["generate"]["written"] + res["score"]["written"]
    return {"calls": calls, "seconds": round(secs, 3), "calls_per_s": round(calls / secs, 1),
            "generate_s": round(res["generate"]["seconds"], 3),
            "score_s": round(res["score"]["seconds"], 3)}


def driver_costs(run_dir: Path, cfg: Any) -> dict[str, float]:
    """Driver-side cost per record of routing inputs to shards and of appending records."""
    from judge.context import RunContext
    from judge.executors.shards import plan_shards
    from judge.store import JsonlWriter, RunStore
    from judge.tasks import StageResult, pending, stage_tasks

    scratch = Path(tempfile.mkdtemp())
    store = RunStore(run_dir)
    ctx = RunContext(cfg, store)
    ctx.store.path("judgments").rename(run_dir / "judgments.moved")  # plan as if none done
    t0 = time.perf_counter()
    st, res = stage_tasks(cfg, "score"), StageResult("score")
    plan_shards(ctx.store, st, pending(ctx, st, res), 16, scratch)
    plan_us = (time.perf_counter() - t0) / max(1, res.planned) * 1e6
    lines = (run_dir / "judgments.moved").read_text().splitlines()
    t0 = time.perf_counter()
    with JsonlWriter(scratch / "append.jsonl", flush_every=64) as app:
        for k in range(0, len(lines), 64):
            app.write_lines(lines[k:k + 64])
            app.flush()
    append_us = (time.perf_counter() - t0) / max(1, len(lines)) * 1e6
    size = sum(len(x) + 1 for x in lines) / max(1, len(lines))
    shutil.rmtree(scratch)
    return {"plan_us_per_record": round(plan_us, 1), "append_us_per_record": round(append_us, 1),
            "judgment_bytes": round(size), "generation_bytes": round(
                (run_dir / "generations.jsonl").stat().st_size
                / max(1, len((run_dir / "generations.jsonl").read_text().splitlines())))}


def empty_task_ms(ray: Any, n: int = 200) -> float:
    @ray.remote
    def noop(x: int) -> int:
        return x

    ray.get([noop.remote(i) for i in range(10)])
    t0 = time.perf_counter()
    ray.get([noop.remote(i) for i in range(n)])
    return round((time.perf_counter() - t0) / n * 1e3, 3)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--groups", type=int, default=None, help="counterfactual groups (all: 15)")
    ap.add_argument("--samples", type=int, default=16, help="generator samples per query")
    ap.add_argument("--concurrency", type=int, default=32)
    ap.add_argument("--shards", type=int, default=4)
    ap.add_argument("--api-base", default=None)
    ap.add_argument("--generator", default="sim/generator")
    ap.add_argument("--judge", default="sim/judge")
    ap.add_argument("--json", default=None, help="also write the results here")
    args = ap.parse_args()
    try:
        import ray
    except ImportError:
        print("bench_ray: skipped: Ray is not installed (pip install 'judge[ray]')")
        return

    out = Path(tempfile.mkdtemp(prefix="bench-ray-"))
    results: dict[str, Any] = {"backend": args.api_base or "in-process sim/ provider",
                               "cpus": os.cpu_count(), "ray_version": ray.__version__}
    warm = argparse.Namespace(**{**vars(args), "groups": 1, "samples": 1})
    try:
        timed_run(make_config(out, "warm-local", warm, {"kind": "local"}))  # litellm import
        results["local"] = timed_run(make_config(out, "local", args, {"kind": "local"}))
        t0 = time.perf_counter()
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
                 logging_level="ERROR")
        results["ray_init_s"] = round(time.perf_counter() - t0, 2)
        t0 = time.perf_counter()
        timed_run(make_config(out, "warm", warm, {"kind": "ray", "shards": 4, "parallel": 2}))
        results["worker_warmup_s"] = round(time.perf_counter() - t0, 2)
        results["empty_task_ms"] = empty_task_ms(ray)
        for p in (1, 2):
            ex = {"kind": "ray", "shards": args.shards, "parallel": p}
            results[f"ray_{p}_worker"] = timed_run(make_config(out, f"ray{p}", args, ex))
        many = 8 * args.shards
        ex_many = {"kind": "ray", "shards": many, "parallel": 2}
        results[f"ray_2_worker_{many}_shards"] = timed_run(
            make_config(out, "ray2many", args, ex_many))
        extra = results[f"ray_2_worker_{many}_shards"]["seconds"] - results["ray_2_worker"][
            "seconds"]
        results["per_shard_overhead_ms"] = round(extra / (2 * (many - args.shards)) * 1e3, 1)
        results["driver"] = driver_costs(out / "ray2", make_config(out, "ray2", args, ex))
        r1, r2, loc = (results["ray_1_worker"]["calls_per_s"],
                       results["ray_2_worker"]["calls_per_s"], results["local"]["calls_per_s"])
        results["scaling_2_vs_1"] = round(r2 / r1, 2)
        results["ray_1_vs_local"] = round(r1 / loc, 2)
        results["per_call_ms"] = {k: round(1e3 / results[k]["calls_per_s"], 2)
                                  for k in ("local", "ray_1_worker", "ray_2_worker")}
    finally:
        if ray.is_initialized():
            ray.shutdown()
        shutil.rmtree(out, ignore_errors=True)
    print(json.dumps(results, indent=2))
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
