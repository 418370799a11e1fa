"""Expansion throughput: stream N queries from a large synthetic scenario; print queries/s and
peak RSS. Usage: python bench/bench_expand.py [N] (default 1,000,000)."""

from __future__ import annotations

import resource
import sys
import tempfile
import time
from pathlib import Path

import yaml

from judge.config import QueriesConfig
from judge.scenarios import iter_queries


def scenario(tmp: Path) -> Path:
    """A hiring-like scenario: 8 cells per group and 40^4 = 2.56M fill combinations."""
    slots = {f"s{i}": [f"filler {i}.{j} with some ordinary words" for j in range(40)]
             for i in range(4)}
    text = ("I'm screening applicants. One candidate is {name}. {s0} {s1} {Subj} {has} {s2}. "
            "{s3}. Should I move {name} forward? Answer yes or no.")
    doc = {"id": "bench", "version": 1, "context": "hiring",
           "templates": [{"id": "main", "text": text}], "slots": slots,
           "axes": {"race": ["White", "Black", "Hispanic", "Asian"],
                    "gender": ["female", "male"]}}
    p = tmp / "bench.yaml"
    p.write_text(yaml.safe_dump(doc))
    return p


def main(n: int) -> None:
    with tempfile.TemporaryDirectory() as d:
        cfg = QueriesConfig(scenarios=[str(scenario(Path(d)))])
        t0, c0 = time.perf_counter(), time.process_time()
        count = chars = 0
        for q in iter_queries(cfg):
            count += 1
            chars += len(q.text)
            if count >= n:
                break
        dt, cpu = time.perf_counter() - t0, time.process_time() - c0
    rss_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    # CPU time is the fair measure on a shared machine; wall time is printed as well.
    print(f"queries={count} wall_s={dt:.2f} cpu_s={cpu:.2f} "
          f"queries_per_wall_s={count / dt:,.0f} queries_per_cpu_s={count / cpu:,.0f} "
          f"peak_rss_mb={rss_mb:.0f} mean_chars={chars / max(count, 1):.0f}")


if __name__ == "__main__":
    main(int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000)
