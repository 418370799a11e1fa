"""Measured truthfulness of the report's findings, through the full pipeline (`judge.run`).

Two sim worlds: ``null`` (every planted effect removed: base rates kept) and ``default``
(datasets/sim/default.yaml). For each seed, one whole run (generate, score, calibrate, and
the report's metrics, ``judge.stages.report.run_metrics``; the HTML is not rendered) of a
reduced default config. Two kinds of claim are counted:

- a *headline*: a finding the report opens with, chosen by the report's own
  ``judge.report.findings.select_findings`` (report-wide multiplicity, noise floor,
  small-cell rule);
- a *significant row*: a disparity row of metrics.json or a differential-judge-bias row of
  calibration.json whose report-wide adjusted p-value (``p_adj``) is below alpha, with no
  warning (what a reader scanning the tables would take as a result).

- null world: the share of runs that state any headline, and any significant row (every
  one is false there; target at most 5%);
- default world: for each planted non-zero effect with a row, the share of runs that find
  it with the right sign (recall), and for every row that carries a planted value, the
  share of runs whose interval covers it (coverage; goal 93-97%), over all such rows, over
  those in cells of 10+ clusters, and over the headlines' own intervals.

    .venv/bin/python bench/bench_findings.py --seeds 100 --json bench/findings.json

Each run takes tens of seconds; 100 seeds in two worlds take over an hour on 2 cores
(``--workers`` runs seeds in parallel processes). Results go in docs/CALIBRATION.md.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import shutil
import sys
import tempfile
from collections import defaultdict
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
ALPHA = 0.05
BIG_CELL = 10  # clusters: below this the report flags an interval as unreliable
SCENARIOS = ["loan_decision.yaml", "hiring_callback_bm.yaml", "tenant_screening.yaml",
             "general_knowledge.yaml"]


def zero_effects(obj: Any) -> Any:
    """A sim profile with every planted effect map emptied (base rates kept)."""
    if isinstance(obj, dict):
        return {k: ({} if k in ("effects", "bias", "owner_effects") else zero_effects(v))
                for k, v in obj.items()}
    return obj


def config(tmp: Path, world: str, seed: int, groups: int) -> dict[str, Any]:
    profile = ROOT / "datasets/sim/default.yaml"
    if world == "null":
        null = tmp / "null-profile.yaml"
        if not null.exists():
            null.write_text(yaml.safe_dump(zero_effects(yaml.safe_load(profile.read_text()))))
        profile = null
    return {"name": f"{world}-{seed}", "output_dir": str(tmp / "runs"), "seed": seed,
            "queries": {"scenarios": [str(ROOT / "datasets/scenarios" / s) for s in SCENARIOS],
                        "design": {"kind": "single_swap"}, "limit": groups},
            "generators": [{"model": "sim/generator", "samples": 2, "concurrency": 32}],
            "judges": [{"model": "sim/judge", "concurrency": 32}],
            "rubrics": ["lending_decision", "hiring_screening", "answer_quality"],
            "human_labels": {"simulate": {"raters": 2, "items": 200}},
            "plugins": {"sim": {"profile": str(profile)}},
            "cache": {"enabled": False}, "report": {"bootstrap": 400}}


def findings(run_dir: Path) -> list[dict[str, Any]]:
    """The rows a report states as results (see the module docstring)."""
    out = []
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    cal_path = run_dir / "calibration.json"
    cal = json.loads(cal_path.read_text()) if cal_path.exists() else {}
    rows = [("metrics", r) for r in metrics] + [("calibration", r) for r in
                                                 cal.get("differential_bias", [])]
    for source, r in rows:
        p = r.get("p_adj")  # the report-wide family; None/NaN: not a test the report makes
        if p is None or (isinstance(p, float) and math.isnan(p)) or r.get("warning"):
            continue
        if p < ALPHA:
            out.append({"source": source, **r})
    return out


KEY_FIELDS = ("metric", "criterion", "generator", "judge", "attribute", "level", "group",
              "reference", "estimator", "quantity")
#: The uncorrected judge-only estimate of a corrected mean or gap: biased wherever the judge
#: is (that is what the correction is for), so its intervals are reported apart.
UNCORRECTED = "judge_only"


def key(r: dict[str, Any]) -> str:
    """A row's identity across runs (corrected rows: one per estimator and quantity)."""
    return "|".join(str(r.get(k)) for k in KEY_FIELDS)


def _field(k: str, name: str) -> str:
    parts, i = k.split("|"), KEY_FIELDS.index(name)
    return parts[i] if i < len(parts) else "None"  # keys written before a field existed


def planted_rows(run_dir: Path) -> list[dict[str, Any]]:
    metrics = json.loads((run_dir / "metrics.json").read_text())["metrics"]
    cal_path = run_dir / "calibration.json"
    cal = json.loads(cal_path.read_text()) if cal_path.exists() else {}
    rows = ([{**r, "_source": "metrics"} for r in metrics]
            + [{**r, "_source": "differential_bias"} for r in cal.get("differential_bias", [])]
            + [{**r, "_source": "corrected"} for r in cal.get("corrected", [])])
    return [r for r in rows if r.get("planted") is not None and r.get("ci_low") is not None]


def headlines(run_dir: Path, metrics: dict[str, Any]) -> list[str]:
    """The findings the report opens with (the report's own selection)."""
    from judge.report.findings import select_findings

    cal_path = run_dir / "calibration.json"
    cal = json.loads(cal_path.read_text()) if cal_path.exists() else None
    return [key(f.row) for f in select_findings(metrics["metrics"], cal)]


def one_run(args: tuple[str, int, int, str]) -> dict[str, Any]:
    world, seed, groups, tmp = args
    os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
    import judge
    from judge.config import RunConfig
    from judge.pipeline import open_run
    from judge.stages.report import run_metrics
    from judge.store import write_json_atomic

    cfg = RunConfig.model_validate(config(Path(tmp), world, seed, groups))
    judge.run(cfg, ["queries", "generate", "score", "calibrate"])
    _, metrics = run_metrics(open_run(cfg))
    write_json_atomic(cfg.run_dir / "metrics.json", metrics)
    found = findings(cfg.run_dir)
    heads = headlines(cfg.run_dir, metrics)
    planted = planted_rows(cfg.run_dir)
    shutil.rmtree(cfg.run_dir, ignore_errors=True)  # 200 runs: keep the disk small
    return {"world": world, "seed": seed, "headlines": heads,
            "findings": [key(r) for r in found],
            "planted": [{"key": key(r), "source": r["_source"], "planted": r["planted"],
                         "value": r.get("value", r.get("estimate")),
                         "ci": [r["ci_low"], r["ci_high"]],
                         "n_clusters": r.get("n_clusters"), "warned": bool(r.get("warning")),
                         "found": key(r) in {key(f) for f in found}} for r in planted]}


def summarize(results: list[dict[str, Any]]) -> dict[str, Any]:
    null = [r for r in results if r["world"] == "null"]
    default = [r for r in results if r["world"] == "default"]
    out: dict[str, Any] = {"alpha": ALPHA}
    if null:
        false = sum(bool(r["findings"]) for r in null)
        false_head = sum(bool(r.get("headlines")) for r in null)
        out["null"] = {"runs": len(null),
                       "runs_with_a_false_headline": false_head,
                       "headline_share": false_head / len(null),
                       "runs_with_a_false_significant_row": false,
                       "share": false / len(null),
                       "false_headlines": sorted({k for r in null
                                                  for k in r.get("headlines", [])}),
                       "false_findings": sorted({k for r in null for k in r["findings"]})}
    if default:
        cover, n_cov = 0, 0
        big: list[int] = []  # intervals over >= BIG_CELL clusters with no small-cell warning
        naive: list[int] = []  # the uncorrected judge's intervals, for contrast
        headline: list[int] = []  # the intervals of the findings the report opens with
        recall: dict[str, list[int]] = defaultdict(list)
        by_metric: dict[str, list[int]] = defaultdict(list)
        by_metric_big: dict[str, list[int]] = defaultdict(list)
        for r in default:
            heads_of_run = set(r.get("headlines", []))
            for p in r["planted"]:
                hit = int(p["ci"][0] <= p["planted"] <= p["ci"][1])
                if p["key"] in heads_of_run:
                    headline.append(hit)
                est = _field(p["key"], "estimator")
                label = f"{p.get('source', '')}:{_field(p['key'], 'metric')}" + (
                    f":{est}" if est != "None" else "")
                by_metric[label].append(hit)
                nc = p.get("n_clusters")
                is_big = nc is not None and nc >= BIG_CELL and not p.get("warned")
                if is_big:
                    by_metric_big[label].append(hit)
                if est == UNCORRECTED:
                    naive.append(hit)
                    continue
                n_cov += 1
                cover += hit
                if is_big:
                    big.append(hit)
                if abs(p["planted"]) > 1e-9:
                    right_sign = (p["value"] or 0) * p["planted"] > 0
                    recall[p["key"]].append(int(p["found"] and right_sign))
        heads = [len(r.get("headlines", [])) for r in default]

        def share(v: list[int]) -> float | None:
            return sum(v) / len(v) if v else None

        out["default"] = {"runs": len(default), "coverage": cover / n_cov if n_cov else None,
                          "headlines_per_run": sum(heads) / len(heads),
                          # selected because significant: conditional on selection, so
                          # expect it below the unconditional coverage (winner's curse)
                          "coverage_of_headline_intervals": share(headline),
                          "headline_intervals_with_a_planted_value": len(headline),
                          "intervals": n_cov,
                          f"coverage_{BIG_CELL}plus_clusters": share(big),
                          f"intervals_{BIG_CELL}plus_clusters": len(big),
                          "coverage_uncorrected_judge": share(naive),
                          "intervals_uncorrected_judge": len(naive),
                          "coverage_by_metric": {k: {"coverage": share(v), "intervals": len(v),
                                                     f"coverage_{BIG_CELL}plus_clusters":
                                                         share(by_metric_big[k]),
                                                     f"intervals_{BIG_CELL}plus_clusters":
                                                         len(by_metric_big[k])}
                                                 for k, v in sorted(by_metric.items())},
                          "recall": {k: sum(v) / len(v) for k, v in sorted(recall.items())}}
    return out


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--seeds", type=int, default=100)
    ap.add_argument("--groups", type=int, default=60,
                    help="counterfactual groups per run (at 30, no default-world cell reaches "
                         "10 clusters: the report rightly states nothing and recall is 0)")
    ap.add_argument("--worlds", nargs="+", default=["null", "default"])
    ap.add_argument("--workers", type=int, default=max(1, (os.cpu_count() or 1)))
    ap.add_argument("--json", type=Path)
    a = ap.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-findings-") as tmp:
        # worlds interleaved, seed by seed: a stopped bench still has both worlds
        jobs = [(w, s, a.groups, tmp) for s in range(a.seeds) for w in a.worlds]
        with ProcessPoolExecutor(a.workers) as pool:
            results = []
            for i, r in enumerate(pool.map(one_run, jobs), 1):
                results.append(r)
                print(f"{i}/{len(jobs)} {r['world']} seed {r['seed']}: "
                      f"{len(r['headlines'])} headlines, {len(r['findings'])} significant "
                      "rows", file=sys.stderr, flush=True)
                if a.json:  # after every run: a stopped bench keeps what it measured
                    a.json.write_text(json.dumps({"summary": summarize(results),
                                                  "runs": results}, indent=2) + "\n")
    print(json.dumps(summarize(results), indent=2))


if __name__ == "__main__":
    main()
