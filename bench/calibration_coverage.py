"""Coverage study of the calibration intervals (``make bench-calibration``).

Runs :func:`judge.calibration.coverage_study` and prints how often each 95% interval
covers the planted truth. Target: 93-97% for the differential judge bias and the
PPI-corrected group gap; the naive judge-only gap must miss.

Worlds:

- ``--world sim`` (default): the embedded ``sim/`` world
  (:func:`judge.sim.coverage.simulate_sim_world`): real scenarios, 120 single-swap race
  groups, 2 sim generator responses per query (as the default run), the sim judge on ``answer_quality.helpfulness`` with
  its planted bias (datasets/sim/default.yaml), 3 sim raters on 30% of the items
  (stratified by group x judge score, weighted by inclusion probability).
- ``--world basic``: the synthetic world :func:`judge.calibration.simulate_basic`
  (60 clusters x 3 groups x 3 items, a judge biased by +0.6 for group b).

    python bench/calibration_coverage.py [--world sim|basic] [--seeds 200] [--B 1000]
        [--groups 120] [--samples 2] [--labelled-fraction 0.3] [--oversample-high 4]
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


def simulator(args: argparse.Namespace):
    """The ``simulate(seed)`` function for the chosen world."""
    from judge.calibration import simulate_basic
    from judge.sim.coverage import simulate_sim_world

    if args.world == "basic":
        return partial(simulate_basic, oversample_high=args.oversample_high)
    return partial(simulate_sim_world, n_groups=args.groups, samples=args.samples,
                   labelled_fraction=args.labelled_fraction, profile=args.profile)


def main(argv: list[str] | None = None) -> int:
    from judge.calibration import coverage_study, format_coverage

    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--world", choices=("sim", "basic"), default="sim")
    ap.add_argument("--seeds", type=int, default=200)
    ap.add_argument("--B", type=int, default=1000)
    ap.add_argument("--groups", type=int, default=120,
                    help="sim: counterfactual groups per seed")
    ap.add_argument("--samples", type=int, default=2,
                    help="sim: generator responses per query")
    ap.add_argument("--labelled-fraction", type=float, default=0.3,
                    help="sim: share of items labelled by the sim raters")
    ap.add_argument("--profile", help="sim: a sim profile YAML (default datasets/sim/default.yaml)")
    ap.add_argument("--oversample-high", type=float, default=1.0,
                    help="basic: label judge scores 4-5 this many times likelier (Poisson "
                         "sample, weighted estimators)")
    ap.add_argument("--json", help="also write the result as JSON here")
    args = ap.parse_args(argv)
    t0 = time.perf_counter()
    res = coverage_study(simulator(args), args.seeds, B=args.B)
    res["world"] = args.world
    res["seconds"] = round(time.perf_counter() - t0, 1)
    print(f"world: {args.world}")
    print(format_coverage(res, by_group=True))
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
