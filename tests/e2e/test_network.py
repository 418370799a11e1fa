"""Guarantees under real network conditions, against a `judge serve-sim` subprocess.

Pipeline configs point `openai/generator` and `openai/judge` at the server's `api_base`, so
every call takes litellm's real HTTP path. See docs/NETWORK.md for what each test proves.
"""

from __future__ import annotations

import json
import os
import random
import secrets
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
import yaml

import judge
from judge.config import load_config
from judge.records import Generation
from judge.sim.faults import FaultConfig
from judge.sim.server_log import (
    SUCCESS,
    calls_by_hash,
    duplicate_successes,
    retry_after_violations,
)
from judge.tasks.generate import generation_params
from tests.fixtures.cli import CliProcess, start_command
from tests.fixtures.runs import jsonl_lines, once_per_id, without_call
from tests.fixtures.server import sim_server_factory  # noqa: F401

ROOT = Path(judge.__file__).resolve().parents[1]
KEY_ENV = "OPENAI_API_KEY"
pytestmark = pytest.mark.e2e


def net_config(tmp: Path, name: str, base_url: str, *, limit: int = 8, gen: dict | None = None,
               judge_over: dict | None = None, **over) -> Path:
    """A small run config whose generator and judge are served by ``base_url``."""
    common = {"api_base": base_url, "api_key_env": KEY_ENV, "concurrency": 8}
    cfg = {
        "name": name, "output_dir": str(tmp / "runs"), "seed": 11,
        "queries": {"scenarios": [str(ROOT / "datasets/scenarios/*.yaml")], "limit": limit},
        "generators": [{"model": "openai/generator", **common, **(gen or {})}],
        # The sim judge reads the rubric's output schema from response_format (json_schema);
        # with structured_output: none it has no schema to answer and replies "{}".
        "judges": [{"model": "openai/judge", "structured_output": "json_schema", **common,
                    **(judge_over or {})}],
        "rubrics": ["decision_dev"], "human_labels": None,
        "cache": {"enabled": False}, "report": {"bootstrap": 100},
        **over,
    }
    path = tmp / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def expected_generation_ids(cfg_path: Path, run_dir: Path) -> set[str]:
    cfg = load_config(cfg_path)
    spec = cfg.generators[0]
    return {Generation.make_id(q["query_id"], spec.model, generation_params(spec, s, cfg.seed), s)
            for q in jsonl_lines(run_dir / "queries.jsonl") for s in range(spec.samples)}


def test_faults_every_item_ends_as_one_record(sim_server_factory, tmp_path,  # noqa: F811
                                              monkeypatch):
    faults = FaultConfig(rate_429=0.10, retry_after_s=1.0, rate_500=0.03, rate_503=0.02,
                         rate_reset=0.02, rate_hang=0.02, hang_s=30.0, rate_malformed=0.05,
                         seed=5)
    srv = sim_server_factory(faults, backend="sim")
    monkeypatch.setenv(KEY_ENV, "sk-test-" + secrets.token_hex(8))
    retries, timeout = 4, 2.0
    limits = {"timeout": timeout, "retries": retries}
    path = net_config(tmp_path, "faults", srv.base_url, gen=limits, judge_over=limits)
    res = judge.run(path, stages=["generate", "score"])
    run = load_config(path).run_dir

    # ids in = ids out, each exactly once: one generation per (query, sample) ...
    gens = once_per_id(run / "generations.jsonl", "generation_id")
    assert set(gens) == expected_generation_ids(path, run)
    for g in gens.values():
        assert g["status"] in ("ok", "error")
        if g["status"] == "error":  # explicit, and only after the whole retry budget
            assert g["error"]["type"] and g["call"]["attempts"] == retries + 1
    # ... and one judgment per successful generation.
    judg = once_per_id(run / "judgments.jsonl", "judgment_id")
    ok_gens = {i for i, g in gens.items() if g["status"] == "ok"}
    targets = Counter(t for j in judg.values() for t in j["target_ids"])
    assert set(targets) == ok_gens and set(targets.values()) == {1}
    for j in judg.values():
        assert j["parse_status"] in ("ok", "parse_failure", "error")
        if j["parse_status"] == "ok":
            assert j["scores"]["quality"] in range(1, 6)
        elif j["parse_status"] == "parse_failure":  # recorded with its raw text, never a score
            assert j["scores"] == {} and j["raw_output"] is not None
            assert j["repair_attempts"] == 2
        else:
            assert j["error"]["type"]
    assert res["generate"]["written"] == len(gens) and res["score"]["written"] == len(judg)

    entries = srv.log_entries()
    seen = Counter(e["outcome"] for e in entries)
    for outcome in ("429", "500", "503", "reset", "hang", "malformed"):
        assert seen[outcome] >= 1, f"seed 5 injected no {outcome}: {dict(seen)}"
    assert sum(j["repair_attempts"] > 0 for j in judg.values()) >= 1  # malformed was re-asked
    # Retry-After is honoured: no retry of a 429'd body came sooner than it asked.
    assert retry_after_violations(entries) == []
    by_hash = calls_by_hash(entries)
    retried_429 = [(c[i], c[i + 1]) for c in by_hash.values() for i in range(len(c) - 1)
                   if c[i]["outcome"] == "429"]
    assert retried_429 and all(b["mono_ns"] - a["mono_ns"] >= 1e9 for a, b in retried_429)
    # A hang ends in a client timeout (not a stuck run), then a retry of the same body.
    hangs = [(c[i], c[i + 1]) for c in by_hash.values() for i in range(len(c) - 1)
             if c[i]["outcome"] == "hang"]
    assert len(hangs) == seen["hang"]
    assert all(b["mono_ns"] - a["mono_ns"] >= timeout * 1e9 for a, b in hangs)
    # Nothing that succeeded was asked again.
    assert duplicate_successes(entries) == {}


class _BodiesSeen:
    """Distinct request bodies the server has seen: progress, not counting repeats. Reads
    only the log lines added since the last call (the kill loop polls every few ms; parsing
    the whole log each time took a core away from the run it was watching)."""

    def __init__(self, srv) -> None:
        self.srv, self.offset, self.hashes = srv, 0, set()

    def __call__(self) -> int:
        self.srv.flush()
        with self.srv.log_path.open("rb") as fh:
            fh.seek(self.offset)
            data = fh.read()
        end = data.rfind(b"\n") + 1  # whole lines only
        self.offset += end
        for line in data[:end].splitlines():
            if line.strip():
                e = json.loads(line)
                if "hash" in e:
                    self.hashes.add(e["hash"])
        return len(self.hashes)


def _run_cli(cfg: Path, env: dict, out: Path, command: str = "run") -> subprocess.Popen:
    with out.open("a") as fh:
        return subprocess.Popen([sys.executable, "-m", "judge.cli", command, str(cfg),
                                 "--no-progress"], stdout=fh, stderr=subprocess.STDOUT,
                                stdin=subprocess.DEVNULL, env=env, cwd=ROOT)


def _fork_cli(cfg: Path, env: dict, out: Path, command: str = "run") -> CliProcess:
    """``judge COMMAND CONFIG --no-progress`` forked with litellm already imported
    (tests/fixtures/cli.py): a process of its own, without ~7 s of CPU to start."""
    return start_command(command, cfg, env=env, cwd=ROOT, out=out)


def _kill_at(srv, cfg: Path, env: dict, out: Path, threshold: int) -> int | None:
    """Run the CLI; SIGKILL it once the server has seen ``threshold`` distinct bodies.

    Returns the kill time (``time.monotonic_ns()``, comparable with the server log's
    ``mono_ns``), or None if the run finished first."""
    proc = _fork_cli(cfg, env, out)
    seen = _BodiesSeen(srv)
    try:
        while proc.poll() is None:
            if seen() >= threshold:
                t_kill = time.monotonic_ns()
                proc.send_signal(signal.SIGKILL)
                proc.wait()
                return t_kill
            time.sleep(0.005)
        return None
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_sigkill_at_random_points_then_resume_equals_uninterrupted_run(
        sim_server_factory, tmp_path, monkeypatch):  # noqa: F811
    key = "sk-test-" + secrets.token_hex(8)
    monkeypatch.setenv(KEY_ENV, key)
    faults = FaultConfig(latency_ms=30, jitter_ms=10, seed=2)
    ref_srv = sim_server_factory(faults, backend="sim", name="ref")
    srv = sim_server_factory(faults, backend="sim", name="crash")

    def cfg_for(base: str, sub: str) -> Path:
        d = tmp_path / f"run-{sub}"
        d.mkdir()
        return net_config(d, "crash", base, limit=4, flush_every=4,
                          cache={"enabled": True, "dir": str(d / "cache")})

    ref_path, crash_path = cfg_for(ref_srv.base_url, "ref"), cfg_for(srv.base_url, "crash")
    judge.run(ref_path, stages=["generate", "score"])
    ref_entries = ref_srv.log_entries()
    n_gen = sum(e["model"] == "generator" for e in ref_entries)
    total = len(ref_entries)
    assert total == len(calls_by_hash(ref_entries))  # no faults: one request per body

    # Kill points, seeded: 2 during generate (bodies 1..n_gen), 3 during score.
    rng = random.Random(20261129)
    points = sorted(rng.sample(range(3, n_gen - 2), 2) + rng.sample(range(n_gen + 3, total - 2), 3))
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True"}
    out = tmp_path / "cli.out"
    kills = [t for t in (_kill_at(srv, crash_path, env, out, p) for p in points) if t]
    assert len(kills) >= 5, f"only {len(kills)} kills landed mid-run"
    # The resume: the stages the kills interrupted (the report stage would only add time).
    for stage in ("generate", "score"):
        final = _fork_cli(crash_path, env, out, stage)
        assert final.wait(timeout=300) == 0, out.read_text()[-2000:]

    # Same ids and same contents (minus the run-dependent `call`) as the uninterrupted run;
    # every JSONL file is whole, and each id was written exactly once.
    ref_run, run = load_config(ref_path).run_dir, load_config(crash_path).run_dir
    for stage, idf in (("queries", "query_id"), ("generations", "generation_id"),
                       ("judgments", "judgment_id")):
        want = once_per_id(ref_run / f"{stage}.jsonl", idf)
        got = once_per_id(run / f"{stage}.jsonl", idf)
        assert set(got) == set(want), stage
        assert {i: without_call(r) for i, r in got.items()} == \
            {i: without_call(r) for i, r in want.items()}, stage
    for p in run.glob("*.jsonl"):
        jsonl_lines(p)
    cached = sum(r["call"]["cached"] for r in jsonl_lines(run / "generations.jsonl")
                 + jsonl_lines(run / "judgments.jsonl"))
    assert cached >= 1  # some answers were received before a kill and replayed from cache

    # Calls at the server: the same bodies were answered as in the uninterrupted run, and a
    # body answered twice is only one that was in flight when a kill landed: it arrived
    # before the kill, and its answer was sent after it, or so shortly before it that the
    # client could not yet commit it to the cache. (The server's `delivered` flag cannot
    # tell: it is True for an answer written to the socket of a client killed moments ago.)
    entries = srv.log_entries()
    ok_ref = {e["hash"] for e in ref_entries if e["outcome"] in SUCCESS}
    ok = {e["hash"] for e in entries if e["outcome"] in SUCCESS and e.get("delivered", True)}
    assert ok == ok_ref
    dups = duplicate_successes(entries)
    window_ns = 1.5e9
    for h in dups:
        first = [e for e in calls_by_hash(entries)[h]
                 if e["outcome"] in SUCCESS and e.get("delivered", True)][:-1]
        for e in first:
            sent = e["mono_ns"] + e["delay_ms"] * 1e6
            assert any(e["mono_ns"] <= t <= sent + window_ns for t in kills), (h, e)
    # One stage runs at a time, 8 calls at most in flight: at most 8 redone per kill.
    assert sum(n - 1 for n in dups.values()) <= 8 * len(kills)
    assert key not in out.read_text()


def test_budget_cap_against_server_stops_then_resumes(sim_server_factory, tmp_path,  # noqa: F811
                                                      monkeypatch):
    srv = sim_server_factory(FaultConfig(seed=1), backend="sim")
    monkeypatch.setenv(KEY_ENV, "sk-test-" + secrets.token_hex(8))
    price = {"input_cost_per_mtok": 10.0, "output_cost_per_mtok": 20.0, "concurrency": 2}

    def cfg(cap: float) -> Path:
        return net_config(tmp_path, "budget", srv.base_url, gen=price, judge_over=price,
                          budget_usd=cap)

    first = judge.run(cfg(0.005), stages=["generate", "score"])
    gen = first["generate"]
    assert gen["stopped"] and "budget" in gen["stopped"]
    assert 0 < gen["written"] < gen["planned"] and "score" not in first
    run = load_config(cfg(0.005)).run_dir
    m = json.loads((run / "manifest.json").read_text())
    assert m["status"] == "stopped" and m["cost"]["total_usd"] >= 0.005
    assert m["cost"]["calls_with_unknown_cost"] == 0
    gens = once_per_id(run / "generations.jsonl", "generation_id")
    for g in gens.values():  # the config's price, not litellm's (which has none for these)
        u = g["usage"]
        assert g["cost_usd"] == pytest.approx(
            (u["prompt_tokens"] * 10 + u["completion_tokens"] * 20) / 1e6)
    # Every call the server answered became a record: none was lost at the stop.
    assert sum(e["outcome"] in SUCCESS for e in srv.log_entries()) == len(gens)

    done = judge.run(cfg(10.0), stages=["generate", "score"])
    assert done["generate"]["skipped"] == len(gens)
    assert done["generate"]["written"] == gen["planned"] - len(gens)
    sc = done["score"]
    assert sc["written"] > 0 and sc["written"] + sc["skipped"] == sc["planned"]
    assert not done["score"]["stopped"]
    m = json.loads((run / "manifest.json").read_text())
    assert m["status"] == "ok" and m["counts"]["generations"] == gen["planned"]
    assert duplicate_successes(srv.log_entries()) == {}  # nothing was paid for twice


@pytest.mark.parametrize("executor", ["local", "processes"])
def test_mutant_parse_failures_are_final_on_resume(sim_server_factory, tmp_path,  # noqa: F811
                                                    monkeypatch, executor):
    """Kills: ``parse_failure`` no longer final on resume. A judge answer that could not be
    parsed is data (recorded with its raw text), not a transient error: a re-run must not
    ask again. Calls are counted where they arrive, in the server's request log."""
    srv = sim_server_factory(FaultConfig(seed=3), backend="sim")
    monkeypatch.setenv(KEY_ENV, "sk-test-" + secrets.token_hex(8))
    path = net_config(tmp_path, "flaky", srv.base_url,
                      judge_over={"model": "openai/judge-flaky", "repair_attempts": 0},
                      executor={"kind": executor, "workers": 2})

    def judge_calls() -> int:
        return sum(e.get("model") == "judge-flaky" for e in srv.log_entries())

    first = judge.run(load_config(path), stages=["generate", "score"])
    run = load_config(path).run_dir
    status = Counter(j["parse_status"]
                     for j in once_per_id(run / "judgments.jsonl", "judgment_id").values())
    assert status["parse_failure"] > 0 and status["ok"] > 0  # the sim judge-flaky profile
    calls = judge_calls()
    assert calls == first["score"]["written"] == sum(status.values())
    again = judge.run(load_config(path), stages=["generate", "score"])
    assert judge_calls() == calls  # not one more judge call
    assert again["score"]["written"] == 0
    assert again["score"]["skipped"] == sum(status.values())


def test_api_key_never_written_anywhere(sim_server_factory, tmp_path,  # noqa: F811
                                        monkeypatch):
    key = "sk-test-" + secrets.token_hex(16)
    faults = FaultConfig(rate_429=0.1, retry_after_s=0.1, rate_500=0.3, rate_malformed=0.1,
                         seed=4)
    srv = sim_server_factory(faults, backend="sim")
    path = net_config(tmp_path, "secrets", srv.base_url, limit=4, gen={"retries": 0},
                      cache={"enabled": True, "dir": str(tmp_path / "cache")},
                      rubrics=["answer_quality"])
    env = {**os.environ, "LITELLM_LOCAL_MODEL_COST_MAP": "True", KEY_ENV: key}
    out = tmp_path / "cli.out"
    proc = _run_cli(path, env, out)
    assert proc.wait(timeout=300) == 0, out.read_text()[-2000:]
    srv.stop()

    run = load_config(path).run_dir
    gens = jsonl_lines(run / "generations.jsonl")
    assert any(g["status"] == "error" and g["error"]["message"] for g in gens)  # error paths ran
    assert (run / "report.md").exists() and (tmp_path / "cache" / "responses.sqlite").exists()
    files = [p for p in tmp_path.rglob("*") if p.is_file()]
    assert srv.log_path in files and out in files and len(files) > 8
    leaked = [str(p) for p in files if key.encode() in p.read_bytes()]
    assert leaked == []
    m = json.loads((run / "manifest.json").read_text())
    assert m["env_vars_used"] == [KEY_ENV]
    assert m["config"]["generators"][0]["api_key_env"] == KEY_ENV

    # The key really comes from that variable: the client sends it, and without it the run
    # refuses to start (exit 2), naming the variable.
    from judge.llm.client import ModelClient

    monkeypatch.setenv(KEY_ENV, key)
    assert ModelClient(load_config(path).generators[0])._kwargs({})["api_key"] == key
    monkeypatch.delenv(KEY_ENV)
    from typer.testing import CliRunner

    from judge.cli import app

    r = CliRunner().invoke(app, ["run", str(path), "--no-progress"], env={KEY_ENV: None})
    assert r.exit_code == 2 and KEY_ENV in r.stderr
    # Stages that call no model need no key: a finished run's calibration and report can be
    # redone by someone who has the run directory and the config but not the key.
    (run / "report.md").unlink()
    for command in ("calibrate", "report"):
        r = CliRunner().invoke(app, [command, str(path)], env={KEY_ENV: None})
        assert r.exit_code == 0, r.output
    assert (run / "report.md").exists()
