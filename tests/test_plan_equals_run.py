"""plan = run: `judge plan` counts exactly the calls a run makes, at `judge serve-sim`'s log.

Every config in configs/ (its rubrics, probes, samples and repeats, with its models pointed
at serve-sim and its query set cut small), and a matrix of rubric modes × probes × repeats.
Repair re-asks are turned off, so every judge call is one judgment.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

import judge
from judge.config import load_config
from judge.plan import plan_counts
from judge.sim.faults import FaultConfig
from judge.sim.server_process import start_server

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = sorted(p.name for p in (ROOT / "configs").glob("*.yaml"))


@pytest.fixture(scope="module")
def sim_server(tmp_path_factory):
    """serve-sim with the sim backend (the simulated world over HTTP), fault-free."""
    workdir = tmp_path_factory.mktemp("plan-server")
    profile = yaml.safe_load((ROOT / "datasets/sim/default.yaml").read_text())
    # writers that never fail validation: every planned LLM-written query is written
    profile["writers"] = {"off_task_rate": 0.0, "leak_rate": 0.0, "drift_rate": 0.0}
    (workdir / "profile.yaml").write_text(yaml.safe_dump(profile))
    with start_server(FaultConfig(), backend="sim", log_path=workdir / "requests.jsonl",
                      workdir=workdir,
                      extra_args=["--sim-profile", str(workdir / "profile.yaml")]) as srv:
        yield srv


def _role(model: str, default: str) -> str:
    name = model.split("/", 1)[-1]
    for role in ("generator", "judge", "validator", "writer"):
        if name.startswith(role[:3]):
            return role
    return default


def _point(spec: dict[str, Any], role: str, base_url: str) -> dict[str, Any]:
    """A model entry served by serve-sim: same sampling settings, our endpoint."""
    out = {k: v for k, v in spec.items() if k not in ("api_key_env", "budget_usd",
                                                      "input_cost_per_mtok",
                                                      "output_cost_per_mtok")}
    out.update(model=f"openai/{_role(spec['model'], role)}", api_base=base_url,
               concurrency=8, retries=0)
    if role in ("judge", "validator"):
        out.update(repair_attempts=0, structured_output="json_schema")
    return out


def _served(data: dict[str, Any], base_url: str, out: Path) -> dict[str, Any]:
    data = dict(data)
    data.update(output_dir=str(out), budget_usd=None, cache={"enabled": False},
                report={"bootstrap": 100})
    data.pop("executor", None)
    data["generators"] = [_point(g, "generator", base_url) for g in data["generators"]]
    data["judges"] = [_point(j, "judge", base_url) for j in data.get("judges", [])]
    q = dict(data["queries"])
    if q.get("scenarios"):
        q["limit"] = 3
    if q.get("llm_written"):
        llm = dict(q["llm_written"])
        llm["writer"] = _point(llm["writer"], "writer", base_url)
        llm["validator"] = _point(llm["validator"], "validator", base_url)
        llm["n_per_cell"] = 1
        llm["use_cases"] = llm["use_cases"][:2]
        q["llm_written"] = llm
    data["queries"] = q
    return data


def _run_and_count(path: Path, sim_server) -> tuple[Any, Counter]:
    before = len(sim_server.log_entries())
    cfg = load_config(path)
    plan = plan_counts(cfg)
    judge.run(cfg, stages=["generate", "score"])
    made = Counter(e["model"] for e in sim_server.log_entries()[before:])
    return plan, made


def _plan_by_role(plan: Any) -> Counter:
    out: Counter = Counter()
    for s in plan.stages:
        if s.stage in ("generate",) or s.stage == "score" or s.stage.startswith("probe:"):
            out[s.model_string.split("/", 1)[-1]] += s.calls
    return out


@pytest.mark.parametrize("name", CONFIGS)
def test_plan_equals_calls_for_every_config(name, sim_server, tmp_path):
    data = yaml.safe_load((ROOT / "configs" / name).read_text())
    served = tmp_path / name
    served.write_text(yaml.safe_dump(_served(data, sim_server.base_url, tmp_path / "runs")))
    plan, made = _run_and_count(served, sim_server)
    planned = _plan_by_role(plan)
    assert planned["generator"] > 0
    if data["queries"].get("llm_written"):
        rej = tmp_path / "runs" / data["name"] / "query_rejections.jsonl"
        dropped = [r for r in map(yaml.safe_load, rej.read_text().splitlines()
                                  if rej.exists() else []) if r.get("status") == "dropped"]
        assert not dropped, "a group was dropped: plan counts every planned query"
        assert made["writer"] >= plan.calls("write (min)")
        assert made["validator"] >= plan.calls("validate (min)")
    assert made["generator"] == planned["generator"], (name, dict(made), dict(planned))
    assert made["judge"] == planned["judge"], (name, dict(made), dict(planned))


MATRIX = [
    # (rubrics, probes, repeats, samples)
    (["answer_quality"], [], 1, 1),
    (["counterfactual_decision", "answer_quality", "hiring_screening"],
     ["attribute_swap", "position_swap"], 1, 2),
    (["decision_dev", "answer_quality"], ["verbosity", "attribute_swap"], 3, 1),
    (["counterfactual_decision", "decision_dev"], ["position_swap", "verbosity"], 2, 2),
]


@pytest.mark.parametrize("rubrics,probes,repeats,samples", MATRIX)
def test_plan_equals_calls_over_modes_probes_repeats(rubrics, probes, repeats, samples,
                                                     sim_server, tmp_path):
    data = {"name": "m", "seed": 3,
            "queries": {"scenarios": [str(ROOT / "datasets/scenarios/hiring_callback_bm.yaml"),
                                      str(ROOT / "datasets/scenarios/loan_decision.yaml")]},
            "generators": [{"model": "sim/generator", "samples": samples}],
            "judges": [{"model": "sim/judge", "repeats": repeats}],
            "rubrics": rubrics, "probes": probes}
    served = tmp_path / "m.yaml"
    served.write_text(yaml.safe_dump(_served(data, sim_server.base_url, tmp_path / "runs")))
    plan, made = _run_and_count(served, sim_server)
    planned = _plan_by_role(plan)
    assert made["generator"] == planned["generator"] > 0
    assert made["judge"] == planned["judge"] > 0
