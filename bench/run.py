"""`make bench`: every benchmark, one after another in one invocation, on this machine.

1. bench_network.py   pipeline vs bare litellm vs raw openai over HTTP (serve-sim), peers
                      (inspect_ai, promptfoo) on the same server, resume of a finished run;
2. bench_client_overhead.py   raw openai vs bare litellm vs aiohttp, per call;
3. bench_pipeline.py  pipeline vs bare litellm in-process (sim/), peak RSS 10k vs 100k;
4. bench_report.py    `judge report` on ~200k judgments with B=1000: time and peak RSS;
5. bench_ray.py       Ray with 1 vs 2 workers vs the local executor (skipped without Ray).

Results go to bench/results.json; the tables are printed at the end. The runs are
sequential (never concurrent), so they don't compete for the CPU.

    .venv/bin/python bench/run.py [--quick] [--no-peers]

``--quick`` (N=300, resume 2,000, RSS 2k vs 20k) checks that everything works in ~3 min.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
BENCH = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH))

import bench_client_overhead  # noqa: E402
import bench_network  # noqa: E402


def run_pipeline_bench(n: int, rss_sizes: str) -> dict:
    """bench_pipeline.py in a subprocess (it measures RSS in fresh processes of its own)."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "pipeline.json"
        env = {**os.environ, "BENCH_RSS_SIZES": rss_sizes}
        subprocess.run([sys.executable, str(BENCH / "bench_pipeline.py"), "--n", str(n),
                        "--json", str(out)], check=True, env=env)
        return json.loads(out.read_text())


def run_json_script(script: str, args: list[str]) -> dict:
    """Run another bench script with ``--json`` in a subprocess; {} if it fails or skips."""
    with tempfile.TemporaryDirectory() as d:
        out = Path(d) / "out.json"
        r = subprocess.run([sys.executable, str(BENCH / script), *args, "--json", str(out)])
        if r.returncode != 0 or not out.exists():
            return {"skipped_or_failed": f"{script} exited {r.returncode}"}
        return json.loads(out.read_text())


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--quick", action="store_true")
    ap.add_argument("--no-peers", action="store_true")
    ap.add_argument("--out", type=Path, default=BENCH / "results.json")
    a = ap.parse_args()
    n, resume_n, rss = (300, 2000, "2000,20000") if a.quick else (2000, 10000, "10000,100000")
    t0 = time.perf_counter()
    results: dict = {"machine": {"cpus": os.cpu_count(), "platform": platform.platform(),
                                 "python": platform.python_version(),
                                 "load_avg_start": os.getloadavg()},
                     "command": " ".join(["python", "bench/run.py", *sys.argv[1:]])}
    def save() -> None:  # after every section, so a long run keeps what it measured
        results["machine"]["load_avg_end"] = os.getloadavg()
        results["total_s"] = round(time.perf_counter() - t0, 1)
        a.out.write_text(json.dumps(results, indent=2) + "\n")

    print(f"== network: pipeline / bare litellm / raw openai / peers (N={n})", flush=True)
    results["network"] = bench_network.run_network(n, 64, (0.0, 200.0), resume_n,
                                                   not a.no_peers)
    save()
    print(f"== client overhead per call (N={n})", flush=True)
    results["client_overhead"] = bench_client_overhead.run_overhead(n, 64, (0.0, 200.0))
    save()
    print(f"== in-process pipeline and memory (N={n}, RSS sizes {rss})", flush=True)
    results["pipeline_in_process"] = run_pipeline_bench(n, rss)
    save()
    big = 20_000 if a.quick else 200_000
    print(f"== judge report on ~{big} judgments, B=1000", flush=True)
    results["report_scale"] = run_json_script("bench_report.py", ["--judgments", str(big)])
    save()
    print("== Ray: 1 vs 2 worker processes vs the local executor", flush=True)
    results["ray"] = run_json_script("bench_ray.py",
                                     ["--groups", "2", "--samples", "4"] if a.quick else [])
    save()

    print("\n## Network (serve-sim, concurrency 64)\n")
    print(bench_network.format_table(results["network"]))
    r = results["network"]["resume"]
    if r:
        print(f"\nresume: re-running a finished {r['items']}-item run made {r['rerun_calls']} "
              f"calls in {r['rerun_wall_s']:.1f} s = {100 * r['time_ratio']:.1f}% of the first "
              f"run's {r['first_wall_s']:.1f} s (target 0 calls, <= 5%)")
    print("\n## Client overhead per call\n")
    print(bench_client_overhead.format_table(results["client_overhead"]))
    p = results["pipeline_in_process"]
    print("\n## In-process sim/ pipeline and memory\n")
    print(json.dumps(p, indent=2))
    print(f"\nwrote {a.out} in {results['total_s']:.0f} s")


if __name__ == "__main__":
    main()
