"""Report at scale (part of `make bench`): `judge report` on ~200k judgments, B=1000.

Builds a large run directory by replicating a finished sim run (default: runs/default,
run first if missing) with fresh ids and fresh counterfactual groups per copy, so the
bootstrap sees many more clusters, then times the report stage (metrics, metrics.csv,
report.md, report.html) in a fresh process and prints wall time and peak RSS.

Usage: python bench/bench_report.py [--judgments 200000] [--source runs/default] [--json F]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
ROOT = Path(__file__).resolve().parents[1]
ID_FIELDS = ("query_id", "cf_group", "generation_id", "judgment_id", "label_id", "target_id")


def _suffix(obj, k: int):
    if isinstance(obj, dict):
        return {key: (f"{v}-{k}" if key in ID_FIELDS and isinstance(v, str) else _suffix(v, k))
                for key, v in obj.items()}
    if isinstance(obj, list):
        return [f"{v}-{k}" if isinstance(v, str) and v[:2] in ("g-", "q-") else _suffix(v, k)
                for v in obj]
    return obj


def replicate(src: Path, dst: Path, target: int) -> int:
    """Copy ``src`` into ``dst`` ``ceil(target / judgments)`` times with suffixed ids."""
    n_j = sum(1 for _ in open(src / "judgments.jsonl"))
    copies = max(1, -(-target // n_j))
    dst.mkdir(parents=True, exist_ok=True)
    for name in ("queries", "generations", "judgments", "human_labels"):
        lines = (src / f"{name}.jsonl").read_text().splitlines()
        with open(dst / f"{name}.jsonl", "w") as out:
            for k in range(copies):
                for line in lines:
                    out.write(json.dumps(_suffix(json.loads(line), k)) + "\n")
    for name in ("manifest.json", "calibration.json"):
        if (src / name).exists():
            (dst / name).write_text((src / name).read_text())
    return n_j * copies


def main() -> dict:
    ap = argparse.ArgumentParser()
    ap.add_argument("--judgments", type=int, default=200_000)
    ap.add_argument("--source", default=str(ROOT / "runs" / "default"))
    ap.add_argument("--json")
    a = ap.parse_args()
    src = Path(a.source)
    judge_bin = [sys.executable, "-m", "judge.cli"]
    if not (src / "judgments.jsonl").exists():
        subprocess.run([*judge_bin, "run", str(ROOT / "configs/default.yaml"), "--no-progress"],
                       check=True, cwd=ROOT)
    with tempfile.TemporaryDirectory() as d:
        tmp = Path(d)
        n = replicate(src, tmp / "runs" / "big", a.judgments)
        cfg = yaml.safe_load((ROOT / "configs/default.yaml").read_text())
        cfg.update(name="big", output_dir=str(tmp / "runs"))
        cfg["report"] = {**cfg.get("report", {}), "bootstrap": 1000}
        (tmp / "big.yaml").write_text(yaml.safe_dump(cfg))
        t0 = time.perf_counter()
        r = subprocess.run(["/usr/bin/time", "-f", "%M", *judge_bin, "report",
                            str(tmp / "big.yaml")], capture_output=True, text=True, cwd=ROOT)
        wall = time.perf_counter() - t0
        if r.returncode != 0:
            raise SystemExit(r.stderr[-3000:])
        rss_mib = int(r.stderr.strip().splitlines()[-1]) / 1024
    out = {"judgments": n, "bootstrap": 1000, "wall_s": round(wall, 1),
           "peak_rss_mib": round(rss_mib, 1)}
    print(f"judge report on {n:,} judgments, B=1000: {wall:.1f} s wall, "
          f"peak RSS {rss_mib:.0f} MiB")
    if a.json:
        Path(a.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
