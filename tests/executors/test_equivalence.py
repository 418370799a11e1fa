"""Every executor is the local one: the same records, byte for byte, and the same manifest.

One config with all three judging modes (pointwise, pairwise, counterfactual set), every
probe, two samples and two judge repeats, run with ``local``, ``processes`` (with and without
overlap) and ``ray`` (when installed). Records are compared without their run-dependent
``call`` field; manifests on everything but timings and the executor's own description.
"""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from typing import Any

import pytest

from judge.config import load_config
from judge.pipeline import open_run, run_stages
from tests.conftest import small_config
from tests.fixtures.runs import FILES, once_per_id, without_call
from tests.fixtures.shared import once_per_session

RUBRICS = ["decision_dev", "answer_quality_pairwise", "counterfactual_decision"]
#: manifest keys that describe where and how fast a run ran, not what it made
RUN_DEPENDENT = {"timings", "cluster", "calls_last_invocation", "stages", "config",
                 "config_path", "git", "versions", "repairs", "last_error"}
EXECUTORS = [
    {"kind": "local"},
    {"kind": "processes", "workers": 2},
    {"kind": "processes", "workers": 3, "overlap": True},
    pytest.param({"kind": "ray", "shards": 3, "address": None},
                 marks=pytest.mark.skipif(importlib.util.find_spec("ray") is None,
                                          reason="ray extra not installed")),
]


#: each run's stage results (``run_stages``'s return), by run directory
RESULTS: dict[str, dict[str, Any]] = {}


def _run(tmp_path: Path, name: str, executor: dict[str, Any]) -> Path:
    cfg = load_config(small_config(
        tmp_path, name, rubrics=RUBRICS, probes=["attribute_swap", "verbosity",
                                                 "position_swap"],
        generators=[{"model": "sim/generator", "samples": 2, "concurrency": 8}],
        judges=[{"model": "sim/judge", "concurrency": 8, "repeats": 2}],
        human_labels=None, executor=executor, flush_every=4))
    RESULTS[str(cfg.run_dir)] = run_stages(open_run(cfg), ["generate", "score"])
    return cfg.run_dir


def _records(run_dir: Path) -> dict[str, dict[str, Any]]:
    return {f: {i: without_call(r) for i, r in once_per_id(run_dir / f"{f}.jsonl",
                                                           idf).items()}
            for f, idf in FILES.items()}


def _manifest(run_dir: Path) -> dict[str, Any]:
    m = json.loads((run_dir / "manifest.json").read_text())
    return {k: v for k, v in m.items() if k not in RUN_DEPENDENT}


def _calls(run_dir: Path) -> dict[str, int]:
    """Calls per model made by the invocation, wherever they ran (driver, workers, tasks)."""
    m = json.loads((run_dir / "manifest.json").read_text())
    return {label: st["calls"] for label, st in m["calls_last_invocation"].items()}


def _stage_counts(run_dir: Path) -> dict[str, dict[str, Any]]:
    m = json.loads((run_dir / "manifest.json").read_text())
    keep = ("planned", "skipped", "written", "errors", "parse_failures", "stopped")
    return {s: {k: r[k] for k in keep} for s, r in m["stages"].items()}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference run, by the local executor (once per session)."""
    return once_per_session(tmp_path_factory, "equivalence-local-run",
                            lambda tmp: _run(tmp, "eq", {"kind": "local"})) / "runs" / "eq"


@pytest.mark.parametrize("executor", EXECUTORS[1:])
def test_every_executor_makes_the_local_runs_records_and_manifest(executor, tmp_path,
                                                                  local_run):
    other = _run(tmp_path, "eq", executor)
    ref, got = _records(local_run), _records(other)
    assert ref["judgments"] and ref["generations"]
    for f in FILES:
        assert got[f].keys() == ref[f].keys(), f
        assert got[f] == ref[f], f
    assert _manifest(other) == _manifest(local_run)
    assert _calls(other) == _calls(local_run) and sum(_calls(local_run).values()) > 0
    assert _manifest(local_run)["rubric_lock"] and _manifest(local_run)["rubrics_resolved"]
    counts = _stage_counts(other)
    ref_counts = _stage_counts(local_run)
    if executor["kind"] == "ray":  # the cluster it ran on is recorded, and no shard failed
        import ray

        m = json.loads((other / "manifest.json").read_text())
        assert m["cluster"]["ray_version"] == ray.__version__
        assert m["cluster"]["nodes"] == 1 and m["cluster"]["shards"] == 3
        assert m["cluster"]["cpus"] >= 1
        assert RESULTS[str(other)]["generate"]["extra"]["ray"]["failed_shards"] == []
    if executor.get("overlap"):  # generate judged its answers: score wrote only the rest
        assert counts["generate"] == ref_counts["generate"]
        assert counts["score"]["planned"] == ref_counts["score"]["planned"]
    else:
        assert counts == ref_counts


def test_rerun_of_a_finished_run_calls_nothing_and_never_imports_litellm(local_run, tmp_path):
    """Resume is free: every id is final, no task runs, no provider is set up."""
    import shutil
    import subprocess
    import sys

    import yaml

    shutil.copytree(local_run, tmp_path / "runs" / "eq")  # the shared run stays as it was
    data = yaml.safe_load((local_run.parent.parent / "eq.yaml").read_text())
    cfg = tmp_path / "eq.yaml"
    cfg.write_text(yaml.safe_dump({**data, "output_dir": str(tmp_path / "runs")}))
    code = ("import sys, judge; r = judge.run(sys.argv[1], stages=['generate', 'score']); "
            "print(r['generate']['written'] + r['score']['written'], "
            "r['score']['skipped'] > 0, 'litellm' in sys.modules)")
    out = subprocess.run([sys.executable, "-c", code, str(cfg)], capture_output=True,
                         text=True, timeout=300, env={**__import__("os").environ,
                                                      "LITELLM_LOCAL_MODEL_COST_MAP": "True"})
    assert out.returncode == 0, out.stderr[-2000:]
    assert out.stdout.split() == ["0", "True", "False"]
