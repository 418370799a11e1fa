"""The whole pipeline on a real model: SmolLM2-135M served by llama-cpp-python on this machine.

Runs whenever the optional extra ``local`` is installed (``make local``), skips cleanly
otherwise. Small on purpose (one counterfactual group of two, short outputs: 11 minutes with two
groups on a loaded 2-core machine, so one); docs/LOCAL_MODEL.md has the numbers and the CI decision.
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import yaml

import judge
from judge.config import load_config
from judge.llm.local_server import local_available
from judge.store import iter_jsonl
from tests.fixtures.runs import jsonl_lines, once_per_id

ROOT = Path(judge.__file__).resolve().parents[1]
pytestmark = [
    pytest.mark.e2e, pytest.mark.local_model, pytest.mark.timeout(900),
    pytest.mark.skipif(not local_available(),
                       reason="the `local` extra is not installed (make local)"),
]
CHAT_LINE = "POST /v1/chat/completions"
PROBES = {"attribute_swap", "verbosity", "position_swap"}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    from judge.llm.local_server import start_local_server

    log = tmp_path_factory.mktemp("local-server") / "server.log"
    with start_local_server(log_path=log, n_ctx=4096) as srv:
        yield srv


def _config(tmp: Path, srv) -> Path:
    common = {"api_base": srv.base_url, "concurrency": 2, "timeout": 300, "retries": 1}
    cfg = {
        "name": "local-e2e", "output_dir": str(tmp / "runs"), "seed": 5,
        "queries": {"scenarios": [str(ROOT / "datasets/scenarios/hiring_callback_bm.yaml"),
                                  str(ROOT / "datasets/scenarios/tenant_screening.yaml")],
                    "axes": ["race", "dialect"], "limit": 1},
        "generators": [{"model": srv.model, **common,
                        "params": {"max_tokens": 32, "temperature": 0.7}}],
        "judges": [{"model": srv.model, "name": "local-judge", **common,
                    "params": {"max_tokens": 64}, "repeats": 2, "repair_attempts": 1}],
        "rubrics": ["short_verdict", "answer_quality_pairwise"],
        "probes": sorted(PROBES), "human_labels": None,
        "cache": {"enabled": False}, "report": {"bootstrap": 100, "min_cell": 2},
        "executor": {"kind": "local"}, "flush_every": 1,
    }
    path = tmp / "local.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def _judge_cli(*args: str) -> list[str]:
    return [sys.executable, "-c", "from judge.cli import main; main()", *args]


def _chat_requests(srv) -> int:
    return srv.output().count(CHAT_LINE)


def _planned_judgment_ids(path: Path) -> set[str]:
    from judge.tasks.score import ScoreTasks

    cfg = load_config(path)
    st = ScoreTasks(cfg)
    return {t.id for t in st.tasks(lambda name: (o for _, o in
                                                 iter_jsonl(cfg.run_dir / f"{name}.jsonl")))}


def test_real_model_end_to_end(server, tmp_path):
    path = _config(tmp_path, server)
    run = load_config(path).run_dir
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    before = _chat_requests(server)

    # generate: every call reached the server (no cache, nothing answered elsewhere)
    subprocess.run(_judge_cli("generate", str(path), "--no-progress"), check=True, env=env,
                   timeout=600)
    gens = once_per_id(run / "generations.jsonl", "generation_id")
    assert len(gens) == 2 and all(g["status"] == "ok" and g["response"] for g in gens.values())
    assert _chat_requests(server) - before == sum(g["call"]["attempts"] for g in gens.values())

    # score, SIGKILLed once a few judgments are on disk, then resumed by `judge run`
    planned = _planned_judgment_ids(path)
    proc = subprocess.Popen(_judge_cli("score", str(path), "--no-progress"), env=env,
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    out = run / "judgments.jsonl"
    deadline = time.monotonic() + 400
    while time.monotonic() < deadline and proc.poll() is None:
        if out.exists() and len(out.read_text().splitlines()) >= 3:
            break
        time.sleep(0.2)
    assert proc.poll() is None, "score finished before it could be killed"
    proc.send_signal(signal.SIGKILL)
    proc.wait()
    killed_at = len(jsonl_lines(out))
    assert 0 < killed_at < len(planned)
    subprocess.run(_judge_cli("run", str(path), "--no-progress"), check=True, env=env,
                   timeout=800)

    judgments = once_per_id(out, "judgment_id")
    assert set(judgments) == planned  # resume after SIGKILL: the same ids, each once
    recorded = sum(r["call"]["attempts"] for r in [*gens.values(), *judgments.values()])
    # every recorded call reached the server, plus the preflights of the two score
    # processes and the calls in flight when the first one was killed
    assert _chat_requests(server) - before >= recorded + 2

    # structured output: llama-cpp-python takes json_object + schema, found by the preflight
    assert {j["structured_output"] for j in judgments.values()} == {"json_object"}
    manifest = json.loads((run / "manifest.json").read_text())
    decision = manifest["stages"]["score"]["extra"]["structured_output"]["local-judge"]
    assert decision["mode"] == "json_object" and decision["decided_by"] == "preflight"
    assert decision["tried"][0]["mode"] == "json_schema"

    # parse failures are data: raw text kept, never coerced into a score
    for j in judgments.values():
        assert j["parse_status"] in ("ok", "parse_failure", "refusal"), j.get("error")
        if j["parse_status"] == "ok":
            assert j["scores"]
        else:
            assert j["scores"] == {} and j["raw_output"]
    short = [j for j in judgments.values() if j["rubric_id"] == "short_verdict"
             and j["parse_status"] == "ok"]
    assert all(j["scores"]["decision"] in ("yes", "no", "unclear") for j in short)

    # probe rows: every probe and the test-retest repeat were judged and summarised
    assert {j["probe"] for j in judgments.values()} - {None} == PROBES
    assert {j["repeat"] for j in judgments.values()} == {0, 1}
    cal = json.loads((run / "calibration.json").read_text())
    # summaries need parsed pairs, which a 135M judge may not leave: the table must exist
    # and name only known probes (a 1-group run measured 5 parse failures in 7)
    assert {p["probe"] for p in cal["probes"]} <= PROBES | {"test_retest"}
    # ... and every probe with a parsed pair (probe and plain judgment of one target) is
    # summarised, yes/no verdicts included (verdict_change_rate)
    plain = {(tuple(j["target_ids"]), j["rubric_id"]) for j in judgments.values()
             if j["probe"] is None and j["repeat"] == 0 and j["parse_status"] == "ok"}
    paired = {j["probe"] for j in judgments.values()
              if j["probe"] in ("attribute_swap", "verbosity") and j["parse_status"] == "ok"
              and (tuple(j["target_ids"]), j["rubric_id"]) in plain}
    assert paired <= {p["probe"] for p in cal["probes"]}, (paired, cal["probes"])

    # the report renders, with the failure section
    html = (run / "report.html").read_text()
    md = (run / "report.md").read_text()
    assert "Failures" in html and len(md) > 500
    # no human labels: the report says what calibration needs (here: the sample command)
    assert "needs human labels" in md and "judge calibrate sample" in md
    # answer quality by group from the binary quality criterion, as a proportion
    import csv

    with (run / "metrics.csv").open(newline="") as fh:
        quality = [r for r in csv.DictReader(fh) if r["metric"] == "quality"]
    assert quality and all(r["rubric_id"] == "short_verdict" and r["criterion"] == "answers"
                           and r["scale"] == "0-1" for r in quality), quality
