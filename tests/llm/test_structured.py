"""Structured output that adapts to the endpoint (judge/llm/structured.py), over HTTP.

Every path runs against a `judge serve-sim --mode ...` subprocess that treats
``response_format`` like the server it is named for (judge/sim/server_modes.py).
"""

from __future__ import annotations

import asyncio
import json
import secrets
from pathlib import Path

import pytest
import yaml

import judge
from judge.config import JudgeSpec, load_config
from judge.llm.client import ModelClient, is_validation_error
from judge.llm.structured import (
    EXPLANATION_MAX_CHARS,
    default_max_tokens,
    forget,
    resolve,
    structured_format,
)
from judge.pipeline import RunFailed
from judge.records import CallError, Judgment
from judge.rubrics import load_rubrics
from judge.sim.faults import FaultConfig
from judge.sim.server_process import start_server

ROOT = Path(judge.__file__).resolve().parents[1]
KEY_ENV = "OPENAI_API_KEY"
EXPECTED = {"openai": "json_schema", "vllm": "json_schema", "llama.cpp": "json_schema",
            "llama-cpp-python": "json_object", "text": "none"}


@pytest.fixture(autouse=True)
def _fresh_decisions(monkeypatch):
    monkeypatch.setenv(KEY_ENV, "sk-test-" + secrets.token_hex(8))
    forget()
    yield
    forget()


def _spec(base_url: str, **over) -> JudgeSpec:
    return JudgeSpec(model="openai/judge", api_base=base_url, api_key_env=KEY_ENV,
                     timeout=10, **over)


@pytest.mark.parametrize("mode", list(EXPECTED))
def test_auto_preflight_picks_what_the_server_accepts(mode, tmp_path):
    rubric = load_rubrics(["decision_dev"])[0]
    with start_server(FaultConfig(), backend="echo", log_path=tmp_path / "log.jsonl",
                      workdir=tmp_path, extra_args=["--mode", mode]) as srv:
        spec = _spec(srv.base_url)
        client = ModelClient(spec)

        async def go():
            decisions = await asyncio.gather(*(resolve(spec, client) for _ in range(4)))
            fmt = structured_format(spec, rubric, 1, mode=decisions[0].mode)
            params = {"temperature": 0, **({"response_format": fmt} if fmt else {})}
            r = await client.complete([{"role": "user", "content": "judge this"}], params,
                                      use_cache=False)
            return decisions, r

        decisions, r = asyncio.run(go())
        entries = srv.log_entries()
    d = decisions[0]
    assert all(x is d for x in decisions)  # concurrent callers share one preflight
    assert (d.mode, d.decided_by) == (EXPECTED[mode], "preflight")
    assert r.ok, r.error
    preflight, call = entries[:-1], entries[-1]
    rejected = [e for e in preflight if e["outcome"] == "invalid"]
    # one request per mode tried, each rejected once and never retried
    assert len(preflight) == len(d.tried) == len(rejected) + 1
    assert [t["mode"] for t in d.tried] == ["json_schema", "json_object", "none"][:len(d.tried)]
    assert call["outcome"] == "ok"
    assert call["response_format"] == {"none": None}.get(d.mode, d.mode)
    if mode == "llama-cpp-python":
        assert rejected[0]["status"] == 500 and "validation error" in rejected[0]["error"]
        assert fmt_schema(rubric)["properties"]["explanation"]["maxLength"] == \
            EXPLANATION_MAX_CHARS


def fmt_schema(rubric) -> dict:
    return structured_format(_spec("http://x"), rubric, 1, mode="json_object")["schema"]


@pytest.mark.parametrize("mode,status", [("llama-cpp-python", 500), ("text", 400)])
def test_validation_errors_fail_fast(mode, status, tmp_path):
    """A request the server rejects as invalid is not retried (issue 14: 5 tries each)."""
    rubric = load_rubrics(["decision_dev"])[0]
    with start_server(FaultConfig(), backend="echo", log_path=tmp_path / "log.jsonl",
                      workdir=tmp_path, extra_args=["--mode", mode]) as srv:
        spec = _spec(srv.base_url, structured_output="json_schema", retries=4)
        client = ModelClient(spec)
        params = {"response_format": structured_format(spec, rubric, 1, mode="json_schema")}
        r = asyncio.run(client.complete([{"role": "user", "content": "x"}], params))
        entries = srv.log_entries()
    assert not r.ok and r.attempts == 1 and len(entries) == 1
    assert r.error.status_code == status and r.error.retryable is False
    assert is_validation_error(r.error)


def test_validation_error_classification():
    def err(status, message):
        return CallError(type="X", message=message, retryable=True, status_code=status)

    assert is_validation_error(err(400, "anything"))
    assert is_validation_error(err(422, "Unprocessable Entity"))
    assert is_validation_error(err(500, "OpenAIException - 1 validation error: {'type': "
                                        "'literal_error', 'loc': ('body', 'response_format')}"))
    assert not is_validation_error(err(500, "Simulated 500 error."))
    assert not is_validation_error(err(503, "Input should be fine later"))
    assert not is_validation_error(err(429, "Rate limit"))
    assert not is_validation_error(None)


class _Recorder:
    """A stand-in client: records the params of each call, answers a valid verdict."""

    def __init__(self):
        self.params: list[dict] = []

    async def complete(self, messages, params, **kw):
        from judge.llm.client import CallResult

        self.params.append(params)
        return CallResult(text='{"decision": "favourable", "quality": 4}', attempts=1)


def _judge_once(judge_over: dict) -> tuple[dict, Judgment]:
    from judge.tasks.judging import pointwise_tasks
    from judge.tasks.score import judge_task

    spec = JudgeSpec(model="openai/judge", api_base="http://127.0.0.1:9/v1",
                     structured_output="json_object", **judge_over)
    gen = {"generation_id": "g1", "query_id": "q1", "cf_group": "c1", "scenario_id": "s",
           "context": "hiring", "attributes": {"race": "Black"}, "model": "gen", "sample": 0,
           "response": "Yes, call them back.", "prompt": [{"role": "user", "content": "Hire?"}]}
    task = next(pointwise_tasks(gen, [spec], load_rubrics(["decision_dev"]), 0, [], None))
    client = _Recorder()
    rec = asyncio.run(judge_task(task, client, 0))
    return client.params[0], rec


def test_judges_get_a_default_max_tokens_from_the_rubric():
    rubric = load_rubrics(["decision_dev"])[0]
    n_fields = len(rubric.output_schema(1)["properties"]) - 1  # without the explanation
    assert default_max_tokens(rubric, 1) == 32 + 96 + 16 * n_fields
    params, rec = _judge_once({})
    assert params["max_tokens"] == default_max_tokens(rubric, 1)
    assert params["response_format"]["type"] == "json_object"
    assert rec.structured_output == "json_object" and rec.parse_status == "ok"
    params, _ = _judge_once({"params": {"max_tokens": 50}})  # the config's cap wins
    assert params["max_tokens"] == 50


def test_judgment_field_is_optional_for_older_records():
    rec = {"judgment_id": "j1", "target_ids": ["g1"], "cf_group": "c", "scenario_id": "s",
           "context": "hiring", "generator": "g", "judge": "j", "judge_model": "openai/j",
           "rubric_id": "r", "rubric_version": "1.0.0", "rubric_hash": "h"}
    assert Judgment.model_validate(rec).structured_output is None  # written before the field
    assert Judgment.model_validate({**rec, "structured_output": "json_object"}
                                   ).structured_output == "json_object"


def _config(tmp: Path, base_url: str, judge_over: dict) -> Path:
    common = {"api_base": base_url, "api_key_env": KEY_ENV, "concurrency": 4, "timeout": 10}
    cfg = {"name": "structured", "output_dir": str(tmp / "runs"), "seed": 3,
           "queries": {"scenarios": [str(ROOT / "datasets/scenarios/hiring_callback_bm.yaml")],
                       "limit": 2},
           "generators": [{"model": "openai/generator", **common}],
           "judges": [{"model": "openai/judge", **common, **judge_over}],
           "rubrics": ["decision_dev"], "cache": {"enabled": False},
           "executor": {"kind": "local"}}
    path = tmp / "cfg.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def test_pipeline_on_a_llama_cpp_python_server(tmp_path):
    """The issue-14 run: auto finds json_object + schema; every judgment parses; the mode is
    on each judgment and in the manifest; one rejected request in all (the preflight)."""
    with start_server(FaultConfig(), backend="sim", log_path=tmp_path / "log.jsonl",
                      workdir=tmp_path, extra_args=["--mode", "llama-cpp-python"]) as srv:
        path = _config(tmp_path, srv.base_url, {})
        judge.run(path, stages=["generate", "score"])
        entries = srv.log_entries()
    run = load_config(path).run_dir
    judgments = [json.loads(line) for line in (run / "judgments.jsonl").open()]
    assert judgments and {j["structured_output"] for j in judgments} == {"json_object"}
    assert {j["parse_status"] for j in judgments} == {"ok"}
    assert all(j["call"]["attempts"] == 1 for j in judgments)
    assert [e["outcome"] for e in entries].count("invalid") == 1
    manifest = json.loads((run / "manifest.json").read_text())
    decision = manifest["stages"]["score"]["extra"]["structured_output"]["openai/judge"]
    assert decision["mode"] == "json_object" and decision["decided_by"] == "preflight"


def test_forced_json_schema_on_llama_cpp_python_fails_fast(tmp_path):
    """Configured json_schema against a server that rejects it: one request per judgment,
    recorded as non-retryable errors (not five retries each)."""
    with start_server(FaultConfig(), backend="sim", log_path=tmp_path / "log.jsonl",
                      workdir=tmp_path, extra_args=["--mode", "llama-cpp-python"]) as srv:
        path = _config(tmp_path, srv.base_url, {"structured_output": "json_schema"})
        with pytest.raises(RunFailed):  # every judge call failed: the run fails (exit 3)
            judge.run(path, stages=["generate", "score"])
        entries = srv.log_entries()
    run = load_config(path).run_dir
    judgments = [json.loads(line) for line in (run / "judgments.jsonl").open()]
    assert judgments and all(j["parse_status"] == "error" for j in judgments)
    assert all(j["error"]["retryable"] is False and j["call"]["attempts"] == 1
               for j in judgments)
    assert [e["outcome"] for e in entries].count("invalid") == len(judgments)
