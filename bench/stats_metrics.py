"""Time and peak memory of the fairness metrics on a 200k-row planted frame.

Usage: python bench/stats_metrics.py [--groups 5600] [--B 1000]
"""

from __future__ import annotations

import argparse
import resource
import time

import numpy as np
import pandas as pd

import judge.stats as js
from judge.sim.synthetic import planted_frame


def peak_mb() -> float:
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def timed(name: str, fn) -> pd.DataFrame:
    t, c = time.perf_counter(), time.process_time()
    out = fn()
    print(f"{name:28s} wall {time.perf_counter() - t:6.2f} s  cpu {time.process_time() - c:6.2f} s"
          f"  rows={len(out):5d}  peak RSS {peak_mb():5.0f} MB", flush=True)
    return out


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("--groups", type=int, default=5600)
    ap.add_argument("--B", type=int, default=1000)
    a = ap.parse_args()
    df = planted_frame(a.groups, generators=6, seed=0, decision_effect={"race": {"Black": -0.1}},
                       score_effect={"race": {"Black": -0.5}})
    print(f"scored frame: {len(df)} rows, {df.cf_group.nunique()} cf groups, B={a.B}")
    t0 = time.perf_counter()
    timed("all_metrics", lambda: js.all_metrics(df, B=a.B))
    timed("calibration_by_group", lambda: js.calibration_by_group(
        df.assign(score=df.decision.fillna(0) * 0.5 + 0.25), B=a.B))
    rng = np.random.default_rng(0)
    n = 100_000
    mentions = pd.DataFrame({"response_id": np.repeat(np.arange(n), 3),
                             "producer_id": rng.integers(0, 500, 3 * n).astype(str),
                             "rank": np.tile([1, 2, 3], n)})
    cat = pd.DataFrame({"producer_id": np.arange(500).astype(str),
                        "size": np.where(np.arange(500) < 100, "large", "small"),
                        "relevance": rng.random(500)})
    timed("producer_exposure (300k)", lambda: js.producer_exposure(mentions, cat, B=a.B))
    sub = df[(df.generator == "m0") & (df.cf_group.isin([f"g{i}" for i in range(2000)]))].copy()
    words = np.array("the loan applicant is approved declined with conditions given income "
                     "history strong weak".split())
    sub["response"] = [" ".join(rng.choice(words, 60)) for _ in range(len(sub))]
    sub["query_text"] = "I am " + sub["attr.race"] + " " + sub["attr.gender"] + " and want a loan"
    pairs = timed("lipschitz_pairs (rouge_l)", lambda: js.lipschitz_pairs(sub))
    timed(f"individual_fairness ({len(pairs)})", lambda: js.individual_fairness(pairs, B=a.B))
    print(f"total {time.perf_counter() - t0:.1f} s, peak RSS {peak_mb():.0f} MB")


if __name__ == "__main__":
    main()
