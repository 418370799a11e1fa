"""Coverage study of the calibration intervals (``make bench-calibration``).

Runs :func:`judge.calibration.coverage_study` on the built-in synthetic world
(:func:`judge.calibration.simulate_basic`: 60 clusters x 3 groups x 3 items, a judge
biased by +0.6 against group b, 240 items labelled by 3 noisy unbiased raters) and prints
how often each 95% interval covers the planted truth. Target: 93-97% for the
differential judge bias and the PPI-corrected group gap; the judge-only gap must miss.

    python bench/calibration_coverage.py [--seeds 200] [--B 1000] [--oversample-high 4]
                                         [--json out.json]
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from functools import partial

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")


def main(argv: list[str] | None = None) -> int:
    from judge.calibration import coverage_study, format_coverage, simulate_basic

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--B", type=int, default=1000)
    ap.add_argument("--oversample-high", type=float, default=1.0,
                    help="label judge scores 4-5 this many times likelier (Poisson sample, "
                         "weighted estimators)")
    ap.add_argument("--json", help="also write the result as JSON here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    sim = partial(simulate_basic, oversample_high=args.oversample_high)
    res = coverage_study(sim, args.seeds, B=args.B)
    res["seconds"] = round(time.perf_counter() - t0, 1)
    print(format_coverage(res))
    print(f"({res['seconds']} s)")
    if args.json:
        with open(args.json, "w", encoding="utf-8") as fh:
            json.dump(res, fh, indent=2)
    ok = (0.93 <= res["differential_bias"]["coverage"] <= 0.97
          and 0.93 <= res["gap"]["ppi"]["coverage"] <= 0.97
          and res["gap"]["judge_only"]["coverage"] < 0.8)
    print("target met" if ok else "TARGET MISSED: see coverage table")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
