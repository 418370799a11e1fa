"""Whole-pipeline tests on the embedded sim/ world."""

from __future__ import annotations

import json
import os
import signal
import time
from pathlib import Path

import pytest

import judge
from judge.config import load_config
from tests.fixtures.cli import CliProcess, start_command

pytestmark = pytest.mark.e2e


def records(path: Path, id_field: str) -> dict[str, dict]:
    """Latest record per id, without run-dependent call info."""
    out = {}
    for line in path.read_text().splitlines():
        obj = json.loads(line)
        obj.pop("call", None)
        out[obj[id_field]] = obj
    return out


def test_small_run_end_to_end_and_rerun_makes_zero_calls(make_config):
    cfg = load_config(make_config("small"))
    res = judge.run(cfg)
    run = cfg.run_dir
    for f in ("queries.jsonl", "generations.jsonl", "judgments.jsonl", "human_labels.jsonl",
              "calibration.json", "metrics.json", "metrics.csv", "report.md", "manifest.json"):
        assert (run / f).exists(), f
    m = json.loads((run / "manifest.json").read_text())
    assert m["counts"]["generations"] == res["generate"]["written"] > 0
    assert m["counts"]["judgments"] == res["score"]["written"] > 0
    assert m["versions"]["litellm"] and m["versions"]["python"]
    assert m["rubrics"] and all(len(h) == 64 for h in m["rubrics"].values())
    assert m["rubrics_resolved"] == {"decision_dev": "decision_dev@1.0.0"}
    assert m["rubric_lock"] == {"decision_dev@1.0.0": "locked"}
    assert m["calls_last_invocation"]["sim/generator"]["calls"] == res["generate"]["written"]
    again = judge.run(cfg)
    assert again["generate"]["written"] == 0 and again["score"]["written"] == 0
    m2 = json.loads((run / "manifest.json").read_text())
    assert all(v["calls"] == 0 for v in m2["calls_last_invocation"].values())
    assert m2["counts"] == m["counts"]


def _run_cli(cfg_path: Path, env: dict, out: Path, command: str = "run") -> CliProcess:
    """``judge COMMAND CONFIG --no-progress``, a process of its own forked with litellm
    already imported (tests/fixtures/cli.py); its output is appended to ``out``."""
    return start_command(command, cfg_path, env=env, cwd=Path.cwd(), out=out)


def test_forked_cli_exits_with_the_commands_code(make_config, tmp_path):
    """The crash tests' forked CLI (tests/fixtures/cli.py) keeps the command's exit code:
    a usage error is 2 and its message reaches the output file, a SIGKILL is -9."""
    out = tmp_path / "out.txt"
    proc = _run_cli(tmp_path / "missing.yaml", dict(os.environ), out)
    assert proc.wait(timeout=120) == 2
    assert "missing.yaml" in out.read_text()
    proc = _run_cli(make_config("forked"), dict(os.environ), out)
    proc.kill()  # at once: long before a run could finish
    assert proc.wait(timeout=60) == -9


def _lines(p: Path) -> int:
    return len(p.read_bytes().splitlines()) if p.exists() else 0


def _kill_when(proc: CliProcess, path: Path, n: int, out: Path, timeout: float = 60) -> None:
    t0 = time.time()
    while _lines(path) < n:
        if proc.poll() is not None:
            raise AssertionError(f"run ended before {n} lines in {path.name}: "
                                 f"{out.read_text()[-2000:]}")
        if time.time() - t0 > timeout:
            proc.kill()
            raise AssertionError("timed out waiting to kill")
        time.sleep(0.02)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()


def test_sigkill_mid_stage_then_resume_matches_uninterrupted_run(make_config, tmp_path):
    over = dict(flush_every=2, generators=[{"model": "sim/generator", "samples": 2,
                                            "concurrency": 2}],
                judges=[{"model": "sim/judge", "concurrency": 2}])
    ref_cfg = make_config("ref", **over)
    crash_cfg = make_config("crash", **over)
    # The uninterrupted reference runs in-process, without the simulated latency and without
    # the report stage: the records compared below (queries, generations, judgments, human
    # labels) exclude the run-dependent `call` field, and the latency is only there to give
    # the kills below a mid-stage moment to land. The crashed and resumed runs are real
    # `judge run` processes (the SIGKILL/resume seam), the resumed one to the end.
    judge.run(load_config(ref_cfg), stages=["generate", "score", "calibrate"])
    env = {**os.environ, "JUDGE_SIM_LATENCY_MS": "25"}
    run = tmp_path / "runs" / "crash"
    out = tmp_path / "cli.out"
    # Kill during generate, then during score; add a torn line like a kill mid-write would.
    _kill_when(_run_cli(crash_cfg, env, out), run / "generations.jsonl", 10, out)
    with open(run / "generations.jsonl", "ab") as fh:
        fh.write(b'{"generation_id": "g-torn", "query')
    _kill_when(_run_cli(crash_cfg, env, out), run / "judgments.jsonl", 10, out)
    # The resume: the stages whose records are compared (the report stage would only add
    # time), without the latency, as nothing is left to kill (~430 calls at 25 ms, 2 in
    # flight, were ~10 s of waiting).
    for command in ("generate", "score", "calibrate"):
        final = _run_cli(crash_cfg, dict(os.environ), out, command)
        assert final.wait(timeout=300) == 0, out.read_text()[-2000:]
    ref_run = tmp_path / "runs" / "ref"
    for fname, idf in (("queries.jsonl", "query_id"), ("generations.jsonl", "generation_id"),
                       ("judgments.jsonl", "judgment_id"), ("human_labels.jsonl", "label_id")):
        a, b = records(ref_run / fname, idf), records(run / fname, idf)
        assert set(a) == set(b), fname
        assert a == b, fname
        # no duplicates and no torn lines after recovery
        lines = (run / fname).read_bytes().splitlines()
        assert len(lines) == len(b) and all(json.loads(x) for x in lines)
    m = json.loads((run / "manifest.json").read_text())
    assert any(r["file"] == "generations.jsonl" for r in m["repairs"])
    assert (run / "generations.jsonl.torn").read_bytes().startswith(b'{"generation_id": "g-torn"')


def test_planted_generator_disparity_is_recovered_within_ci(make_config, monkeypatch):
    """The race selection-rate gap the sim profile plants is inside the report's CI, and the
    CI excludes 0. Only metrics.json is read: report.html is not written here (it is what the
    report tests check), which saves a third of the report stage; nor are the Lipschitz
    individual-fairness rows computed (pairs within 32-member groups, half of what is left
    of the report stage; no assertion reads them, and the selection-rate CIs do not depend
    on them: the multiplicity family changes p_adj only)."""
    import judge.report
    import judge.stages.analyze

    monkeypatch.setattr(judge.report, "write_html_report", lambda *a, **k: None)
    monkeypatch.setattr(judge.stages.analyze, "_individual", lambda *a, **k: [])
    root = Path(judge.__file__).parents[1] / "datasets/scenarios"
    cfg = load_config(make_config("planted", queries={
        "scenarios": [str(root / "loan_decision.yaml"), str(root / "hiring_callback_bm.yaml")],
        "limit": 40}, generators=[{"model": "sim/generator", "samples": 3, "concurrency": 32}],
        rubrics=["lending_decision", "hiring_screening"], human_labels=None))
    judge.run(cfg, stages=["generate", "score", "report"])
    rows = json.loads((cfg.run_dir / "metrics.json").read_text())["metrics"]
    dp = {r["rubric_id"]: r for r in rows if r["metric"] == "selection_rate_diff"
          and r["attribute"] == "race" and r["level"] == "Black"}
    # one row per decision criterion: the two rubrics' decisions are never pooled
    assert sorted(dp) == ["hiring_screening", "lending_decision"], "no race selection-rate row"
    for r in dp.values():
        assert r["reference"] == "White" and r["criterion"] == "decision"
        assert r["planted"] < -0.05  # the profile plants a real gap
        assert r["ci_low"] <= r["planted"] <= r["ci_high"]
        assert r["ci_high"] < 0  # and the run detects it
