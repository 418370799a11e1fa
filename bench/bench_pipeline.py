"""Pipeline overhead and memory benchmark (part of `make bench`).

1. Throughput: generate+score items/s through the whole pipeline on the in-process sim/
   provider, next to a bare loop of ``litellm.acompletion`` calls making the same calls
   (one generator call, then one judge call on its answer, per item) at the same
   concurrency. Prints the ratio (target: pipeline >= 0.8x the bare loop).
2. Memory: peak RSS of ``generate`` on 10k vs 100k queries, each in a fresh process
   (target: flat, <= 1.3x). Sizes via BENCH_RSS_SIZES="10000,100000".

Usage: python bench/bench_pipeline.py [--n 2000] [--concurrency 64] [--json out.json]
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
RUBRIC = "answer_quality"


def write_queries(n: int, path: Path) -> None:
    """``n`` queries from the default scenarios (full factorial), cycled with a variant
    suffix when the scenarios hold fewer; streamed to a queries JSONL."""
    from judge.config import DesignSpec, QueriesConfig
    from judge.scenarios import iter_queries

    cfg = QueriesConfig(scenarios=[str(ROOT / "datasets/scenarios/*.yaml")],
                        design=DesignSpec(kind="full_factorial"))
    k, rnd = 0, 0
    with open(path, "w", encoding="utf-8") as fh:
        while k < n:
            for q in iter_queries(cfg):
                obj = json.loads(q.model_dump_json())
                if rnd:
                    obj["query_id"] += f"-{rnd}"
                    obj["text"] += f" (variant {rnd})"
                fh.write(json.dumps(obj, ensure_ascii=False) + "\n")
                k += 1
                if k >= n:
                    break
            rnd += 1


def config(tmp: Path, name: str, queries: Path, concurrency: int) -> Path:
    import yaml

    cfg = {"name": name, "output_dir": str(tmp), "seed": 1,
           "queries": {"path": str(queries)},
           "generators": [{"model": "sim/generator", "concurrency": concurrency}],
           "judges": [{"model": "sim/judge", "concurrency": concurrency}],
           "rubrics": [RUBRIC], "cache": {"enabled": False}, "flush_every": 256}
    p = tmp / f"{name}.yaml"
    p.write_text(yaml.safe_dump(cfg))
    return p


def run_pipeline(cfg_path: Path) -> tuple[float, int]:
    from judge.config import load_config
    from judge.pipeline import open_run, run_stages

    cfg = load_config(cfg_path)
    ctx = open_run(cfg)
    ctx.client(cfg.generators[0])  # register sim + import litellm outside the timing
    run_stages(ctx, ["queries"])
    ctx = open_run(cfg)
    t0 = time.perf_counter()
    res = run_stages(ctx, ["generate", "score"])
    dt = time.perf_counter() - t0
    return dt, res["generate"]["written"]


async def bare_loop(queries: Path, concurrency: int) -> tuple[float, int]:
    from judge.llm.litellm_env import get_litellm
    from judge.records import Query
    from judge.rubric import load_rubric
    from judge.sim.provider import register

    litellm = get_litellm()
    register()
    rb = load_rubric(RUBRIC)
    qs = [Query.model_validate_json(line) for line in queries.read_text().splitlines()]
    sem = asyncio.Semaphore(concurrency)
    fmt = rb.response_format(1)

    async def item(q: Query) -> None:
        async with sem:
            g = await litellm.acompletion(model="sim/generator", messages=q.messages(), seed=1)
            text = g.choices[0].message.content
            msgs = rb.render(query=q.text, responses=[text])
            await litellm.acompletion(model="sim/judge", messages=msgs, temperature=0, seed=2,
                                      response_format=fmt)

    t0 = time.perf_counter()
    await asyncio.gather(*(item(q) for q in qs))
    return time.perf_counter() - t0, len(qs)


def rss_child(n: int) -> None:
    """Run generate on n queries in this process and print peak RSS (MiB)."""
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        qp = tmp / "q.jsonl"
        write_queries(n, qp)
        from judge.config import load_config
        from judge.pipeline import open_run, run_stages

        cfg = load_config(config(tmp, "rss", qp, 64))
        run_stages(open_run(cfg), ["generate"])
    print(json.dumps({"n": n, "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
                      / 1024}))


def main() -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--n", type=int, default=2000)
    ap.add_argument("--concurrency", type=int, default=64)
    ap.add_argument("--rss-child", type=int)
    ap.add_argument("--json")
    a = ap.parse_args()
    if a.rss_child:
        rss_child(a.rss_child)
        return {}
    out: dict = {}
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        qp = tmp / "q.jsonl"
        write_queries(a.n, qp)
        bare_s, n_bare = asyncio.run(bare_loop(qp, a.concurrency))
        pipe_s, n_pipe = run_pipeline(config(tmp, "bench", qp, a.concurrency))
        bare_s2, _ = asyncio.run(bare_loop(qp, a.concurrency))  # bracket the pipeline run
        bare = n_bare / ((bare_s + bare_s2) / 2)
        pipe = n_pipe / pipe_s
        out["throughput"] = {"items": a.n, "concurrency": a.concurrency,
                             "pipeline_items_per_s": round(pipe, 1),
                             "bare_litellm_items_per_s": round(bare, 1),
                             "ratio": round(pipe / bare, 3)}
        print(f"generate+score, in-process sim/, {a.n} items, concurrency {a.concurrency}")
        print(f"  pipeline     {pipe:8.1f} items/s")
        print(f"  bare litellm {bare:8.1f} items/s")
        print(f"  ratio        {pipe / bare:8.3f}   (target >= 0.8)")
    sizes = [int(x) for x in os.environ.get("BENCH_RSS_SIZES", "10000,100000").split(",") if x]
    rss = {}
    for n in sizes:
        r = subprocess.run([sys.executable, __file__, "--rss-child", str(n)], capture_output=True,
                           text=True, check=True)
        rss[n] = json.loads(r.stdout.strip().splitlines()[-1])["peak_rss_mib"]
        print(f"  peak RSS generate {n:>7} queries: {rss[n]:7.1f} MiB")
    if len(sizes) >= 2:
        ratio = rss[sizes[-1]] / rss[sizes[0]]
        print(f"  RSS ratio {sizes[-1]}/{sizes[0]}: {ratio:.3f}   (target <= 1.3)")
        out["memory"] = {"peak_rss_mib": rss, "ratio": round(ratio, 3)}
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
