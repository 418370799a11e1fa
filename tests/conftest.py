"""Shared fixtures: small run configs on the embedded sim/ world."""

from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

ROOT = Path(__file__).resolve().parents[1]
SHARED_DATA = ROOT.parent / "shared" / "data"


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
    quality, an attribute-swap probe, simulated labels), made once per session and shared
    by the xdist workers (tests/fixtures/shared.py): read it, never write to it."""
    import judge
    from judge.config import load_config
    from tests.fixtures.shared import once_per_session

    def build(tmp: Path) -> None:
        judge.run(load_config(small_config(
            tmp, "tiny", rubrics=["lending_decision", "answer_quality"],
            probes=["attribute_swap"],
            queries={"scenarios": [str(ROOT / "datasets/scenarios/loan_decision.yaml")],
                     "limit": 6, "design": {"kind": "single_swap"}},
            human_labels={"simulate": {"raters": 2, "items": 24}}, report={"bootstrap": 100})))

    return once_per_session(tmp_path_factory, "tiny-run", build) / "runs" / "tiny"


@pytest.fixture(scope="session")
def chromium(tmp_path_factory) -> dict:
    """Paths to chromium and chromedriver (installed by tests/report/ensure_chromium.sh,
    root + apt) or a skip: the report and labelling pages are tested in headless Chromium."""
    script = Path(__file__).resolve().parent / "report" / "ensure_chromium.sh"
    if not (shutil.which("chromium") and shutil.which("chromedriver")):
        proc = subprocess.run(["bash", str(script)], capture_output=True, text=True,
                              timeout=900)
        if proc.returncode != 0:
            lines = (proc.stdout + proc.stderr).strip().splitlines() or ["no reason given"]
            pytest.skip(f"headless Chromium unavailable: {lines[-1]}")
    binary, driver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (binary and driver):
        pytest.skip("headless Chromium unavailable: chromium/chromedriver not on PATH after "
                    "tests/report/ensure_chromium.sh")
    return {"binary": binary, "driver": driver,
            "profile": tmp_path_factory.mktemp("chromium-profile")}
