"""Shared fixtures: small run configs on the embedded sim/ world."""

from __future__ import annotations

import os
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


#: Tests (or their module fixtures) that take tens of seconds on 2 cores, slowest first
#: (`pytest --durations=30`, 2026-12-05). They are collected first, so xdist hands them out
#: before the short ones and the session does not end waiting on one long test started late.
#: Refresh from --durations when the order drifts; a missing name only loses its rank.
SLOW_FIRST = (
    "tests/sim/test_coverage.py::test_coverage_fast_in_sim_world",
    "tests/e2e/test_network.py::test_sigkill_at_random_points_then_resume_equals_uninterrupted_run",
    "tests/e2e/test_pipeline.py::test_sigkill_mid_stage_then_resume_matches_uninterrupted_run",
    "tests/executors/test_processes.py::test_sigkill_of_the_driver_stops_its_workers_and_resume_completes",
    "tests/executors/test_ray.py::test_ray_run_matches_local_run",
    "tests/e2e/test_network.py::test_api_key_never_written_anywhere",
    "tests/report/test_report_run.py::test_every_section_renders",
    "tests/executors/test_equivalence.py::test_every_executor_makes_the_local_runs_records_and_manifest",
    "tests/e2e/test_pipeline.py::test_planted_generator_disparity_is_recovered_within_ci",
    "tests/e2e/test_pipeline.py::test_small_run_end_to_end_and_rerun_makes_zero_calls",
    "tests/labelling/test_runs.py::test_local_model_run_writes_blind_sheets",
    "tests/test_frames.py::test_no_column_of_a_real_run_shadows_a_dataframe_attribute",
    "tests/calibration/test_coverage.py::test_coverage_fast",
    "tests/e2e/test_null_world.py::test_null_world_cis_cover_zero",
    "tests/executors/test_processes.py::test_overlap_judges_answers_as_they_arrive_with_the_same_records",
    "tests/executors/test_ray.py::test_killed_driver_rerun_completes_without_duplicates",
    "tests/e2e/test_bad_input.py::test_disk_full_then_resume",
    "tests/e2e/test_network.py::test_faults_every_item_ends_as_one_record",
    "tests/report/test_findings.py::test_pipeline_report_opens_with_findings",
)


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Run :data:`SLOW_FIRST` first (a stable sort: everything else keeps its order)."""
    rank = {name: i for i, name in enumerate(SLOW_FIRST)}
    items.sort(key=lambda item: rank.get(item.nodeid.split("[", 1)[0], len(rank)))


def small_config(tmp_path: Path, name: str = "t", **over) -> Path:
    """Write a small run config (a few counterfactual groups) and return its path."""
    cfg = {
        "name": name,
        "output_dir": str(tmp_path / "runs"),
        "seed": 7,
        "queries": {"scenarios": [str(ROOT / "datasets/scenarios/*.yaml")], "limit": 4},
        "generators": [{"model": "sim/generator", "samples": 1, "concurrency": 8}],
        "judges": [{"model": "sim/judge", "concurrency": 8}],
        "rubrics": ["decision_dev"],
        "human_labels": {"simulate": {"raters": 2, "items": 40}},
        "cache": {"enabled": False},
        "report": {"bootstrap": 200},
    }
    for k, v in over.items():
        cfg[k] = v
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture
def make_config(tmp_path: Path):
    def _make(name: str = "t", **over) -> Path:
        return small_config(tmp_path, name, **over)

    return _make


@pytest.fixture(scope="session")
def small_config_fn():
    """``small_config`` for module- and session-scoped fixtures."""
    return small_config


@pytest.fixture(scope="session")
def tiny_run(tmp_path_factory) -> Path:
    """The run directory of one finished tiny sim run (lending decisions and answer
    quality, an attribute-swap probe, simulated labels), made once per session: read it,
    never write to it."""
    import judge
    from judge.config import load_config

    tmp = tmp_path_factory.mktemp("tiny-run")
    cfg = load_config(small_config(
        tmp, "tiny", rubrics=["lending_decision", "answer_quality"], probes=["attribute_swap"],
        queries={"scenarios": [str(ROOT / "datasets/scenarios/loan_decision.yaml")],
                 "limit": 6, "design": {"kind": "single_swap"}},
        human_labels={"simulate": {"raters": 2, "items": 24}}, report={"bootstrap": 100}))
    judge.run(cfg)
    return cfg.run_dir
