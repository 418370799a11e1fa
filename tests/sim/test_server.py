"""The local OpenAI-compatible server: protocol, faults, request log, shutdown.

Clients are the raw ``openai.AsyncOpenAI`` and ``litellm.acompletion`` over real HTTP against a
``judge serve-sim`` subprocess (see tests/fixtures/server.py).
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import defaultdict

import pytest

from judge.sim.faults import FaultConfig, decide, malform, wants_json
from judge.sim.server import echo_complete
from judge.sim.server_log import (
    calls_by_hash,
    duplicate_successes,
    read_log,
    retry_after_violations,
)
from tests.fixtures.server import sim_available, sim_server, sim_server_factory  # noqa: F401

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
KEY = "test-key-9f8e7d6c5b4a3210"
USER = [{"role": "user", "content": "Say hello to Amara."}]
JUDGE = [{"role": "system", "content": "Reply with a JSON object with keys score and reason."},
         {"role": "user", "content": "Rate this answer: 'hello'"}]


def _openai(base_url: str, **kw):
    import openai

    return openai.AsyncOpenAI(base_url=base_url, api_key=KEY, max_retries=kw.pop("max_retries", 0),
                              **kw)


def _litellm():
    import litellm

    litellm.suppress_debug_info = True
    return litellm


def _run(coro):
    return asyncio.run(coro)


def _post(url: str, body: bytes, headers: dict[str, str]) -> tuple[int, dict]:
    req = urllib.request.Request(url + "/v1/chat/completions", data=body, headers=headers)
    try:
        with urllib.request.urlopen(req, timeout=10) as resp:
            return resp.status, json.loads(resp.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


# ---------------------------------------------------------------- fault decisions (no server)

def test_fault_rates_must_sum_to_at_most_one():
    with pytest.raises(ValueError, match="fault rates sum to 1.2"):
        FaultConfig(rate_429=0.7, rate_500=0.5)
    assert FaultConfig(rate_429=0.5, seed=3, retry_after_s=0.25).cli_args() == [
        "--rate-429", "0.5", "--retry-after-s", "0.25", "--seed", "3"]


def test_decide_matches_rates_and_is_reproducible():
    cfg = FaultConfig(rate_429=0.10, rate_500=0.03, rate_503=0.02, rate_reset=0.02,
                      rate_hang=0.02, rate_malformed=0.05, latency_ms=100, jitter_ms=20, seed=11)
    n = 20_000
    counts: dict[str, int] = defaultdict(int)
    for i in range(n):
        d = decide(cfg, f"h{i}", 0, wants_json=True)
        counts[d.outcome] += 1
        assert 0.080 <= d.delay_s <= 0.120
        assert d == decide(cfg, f"h{i}", 0, wants_json=True)
    for outcome, rate in (("429", .10), ("500", .03), ("503", .02), ("reset", .02),
                          ("hang", .02), ("malformed", .05)):
        sd = (rate * (1 - rate) / n) ** 0.5
        assert abs(counts[outcome] / n - rate) < 5 * sd, (outcome, counts[outcome])
    # Without a JSON request the malformed slot becomes ok; other faults are unchanged.
    plain = [decide(cfg, f"h{i}", 0, wants_json=False).outcome for i in range(2000)]
    assert "malformed" not in plain and plain.count("429") > 100
    # A new seed gives a different pattern; a retry (next attempt) gets a fresh draw.
    other = FaultConfig(**{**cfg.model_dump(), "seed": 12})
    assert [decide(other, f"h{i}", 0, wants_json=True).outcome for i in range(2000)] != [
        decide(cfg, f"h{i}", 0, wants_json=True).outcome for i in range(2000)]
    always = FaultConfig(rate_429=0.5)
    assert {decide(always, "same", a, wants_json=False).outcome for a in range(40)} == {"ok", "429"}


def test_malformed_output_does_not_parse():
    text = json.dumps({"score": 4, "reason": "clear and polite"})
    for u in (0.0, 0.3, 0.7, 0.999):
        broken = malform(text, "truncate", u)
        assert text.startswith(broken) and len(broken) < len(text)
        with pytest.raises(json.JSONDecodeError):
            json.loads(broken)
    wrapped = malform(text, "wrap", 0.0)
    with pytest.raises(json.JSONDecodeError):
        json.loads(wrapped)
    start = wrapped.index("{")
    assert json.JSONDecoder().raw_decode(wrapped[start:])[0] == json.loads(text)


def test_log_checks(tmp_path):
    log = [
        {"t": 0, "mono_ns": 0, "hash": "a", "attempt": 0, "outcome": "429", "retry_after": 1.0},
        {"t": 0, "mono_ns": 2_000_000_000, "hash": "a", "attempt": 1, "outcome": "ok",
         "delivered": True},
        {"t": 0, "mono_ns": 10, "hash": "b", "attempt": 0, "outcome": "ok", "delivered": False},
        {"t": 0, "mono_ns": 20, "hash": "b", "attempt": 1, "outcome": "malformed",
         "delivered": True},
        {"t": 0, "mono_ns": 30, "hash": "b", "attempt": 2, "outcome": "ok", "delivered": True},
        {"t": 0, "mono_ns": 40, "outcome": "401", "status": 401},
    ]
    path = tmp_path / "requests.jsonl"
    path.write_text("".join(json.dumps(e) + "\n" for e in log) + '{"t": 0, "mono')
    assert read_log(path) == log
    assert [c["attempt"] for c in calls_by_hash(log)["b"]] == [0, 1, 2]
    assert retry_after_violations(log) == []
    [v] = retry_after_violations(log, slack_s=-1.5)
    assert (v.hash, v.attempt, v.gap_s, v.retry_after_s) == ("a", 1, 2.0, 1.0)
    assert duplicate_successes(log) == {"b": 2}


def test_wants_json_and_echo_backend():
    assert wants_json({"messages": USER, "response_format": {"type": "json_object"}})
    assert wants_json({"messages": JUDGE})
    assert not wants_json({"messages": USER, "response_format": {"type": "text"}})
    reply = echo_complete("judge", JUDGE, {})
    assert set(json.loads(reply.text)) == {"score", "reason"}
    assert echo_complete("gen", USER, {}).text == "[gen] Say hello to Amara."


# ---------------------------------------------------------------- protocol

def test_openai_client_plain_stream_and_models(sim_server):  # noqa: F811
    async def go():
        client = _openai(sim_server.base_url)
        plain = await client.chat.completions.create(model="gen", messages=USER)
        stream = await client.chat.completions.create(
            model="gen", messages=USER, stream=True, stream_options={"include_usage": True})
        parts, usage = [], None
        async for chunk in stream:
            if chunk.choices:
                parts.append(chunk.choices[0].delta.content or "")
            if chunk.usage:
                usage = chunk.usage
        models = await client.models.list()
        await client.close()
        return plain, "".join(parts), usage, [m.id for m in models.data]

    plain, streamed, usage, models = _run(go())
    assert plain.choices[0].message.content == "[gen] Say hello to Amara."
    assert plain.choices[0].finish_reason == "stop"
    assert streamed == plain.choices[0].message.content
    assert usage is not None and usage.total_tokens == plain.usage.total_tokens > 0
    assert "judge" in models


def test_litellm_plain_stream_and_response_format(sim_server_factory):  # noqa: F811
    litellm = _litellm()
    srv = sim_server_factory(FaultConfig())

    async def go():
        common = dict(api_base=srv.base_url, api_key=KEY, num_retries=0)
        plain = await litellm.acompletion(model="openai/judge", messages=USER, seed=3, **common)
        same = await _openai(srv.base_url).chat.completions.create(
            model="judge", messages=USER, seed=3)
        fmt = await litellm.acompletion(model="openai/judge", messages=USER, **common,
                                        response_format={"type": "json_object"})
        stream = await litellm.acompletion(model="openai/gen", messages=USER, stream=True,
                                           stream_options={"include_usage": True}, **common)
        text = "".join([c.choices[0].delta.content or "" async for c in stream if c.choices])
        return plain, same, fmt, text

    plain, same, fmt, text = _run(go())
    assert plain.choices[0].message.content == "[judge] Say hello to Amara."
    assert same.choices[0].message.content == plain.choices[0].message.content
    assert plain.usage.prompt_tokens > 0
    # response_format reached the backend: the echo backend answers JSON.
    assert set(json.loads(fmt.choices[0].message.content)) == {"score", "reason"}
    assert text == "[gen] Say hello to Amara."
    # litellm and openai send the same body, so the server sees one request, attempted twice.
    first, second = srv.log_entries()[:2]
    assert first["hash"] == second["hash"] and (first["attempt"], second["attempt"]) == (0, 1)


def test_auth_and_bad_requests(sim_server):  # noqa: F811
    body = json.dumps({"model": "gen", "messages": USER}).encode()
    status, err = _post(sim_server.url, body, {"Content-Type": "application/json"})
    assert status == 401 and err["error"]["type"] == "authentication_error"
    auth = {"Authorization": f"Bearer {KEY}", "Content-Type": "application/json"}
    status, err = _post(sim_server.url, b"{not json", auth)
    assert status == 400 and "not valid JSON" in err["error"]["message"]
    status, err = _post(sim_server.url, json.dumps({"model": "gen"}).encode(), auth)
    assert status == 400 and "'messages'" in err["error"]["message"]
    assert KEY not in json.dumps(err)
    with urllib.request.urlopen(sim_server.url + "/health", timeout=5) as resp:
        assert json.loads(resp.read())["status"] == "ok"


# ---------------------------------------------------------------- faults over HTTP

def test_429_reaches_clients_with_retry_after(sim_server_factory):  # noqa: F811
    import openai

    litellm = _litellm()
    srv = sim_server_factory(FaultConfig(rate_429=1.0, retry_after_s=7))

    async def go():
        with pytest.raises(openai.RateLimitError) as raw:
            await _openai(srv.base_url).chat.completions.create(model="gen", messages=USER)
        with pytest.raises(litellm.RateLimitError) as wrapped:
            await litellm.acompletion(model="openai/gen", messages=USER, api_base=srv.base_url,
                                      api_key=KEY, num_retries=0)
        return raw.value, wrapped.value

    raw, wrapped = _run(go())
    assert raw.status_code == 429 and raw.response.headers["retry-after"] == "7"
    assert wrapped.status_code == 429
    # Where litellm 1.110 exposes the header (the retry code reads it from here):
    assert wrapped.response.headers["retry-after"] == "7"
    assert wrapped.litellm_response_headers["retry-after"] == "7"
    entries = srv.log_entries()
    assert [e["outcome"] for e in entries] == ["429", "429"]  # num_retries=0: one call each
    assert all(e["retry_after"] == 7 for e in entries)


def test_litellm_hidden_retries(sim_server_factory):  # noqa: F811
    """Without num_retries, litellm lets the openai SDK retry twice (honouring Retry-After)."""
    litellm = _litellm()
    srv = sim_server_factory(FaultConfig(rate_429=1.0, retry_after_s=0.1))

    async def go(**kw):
        with pytest.raises(litellm.RateLimitError):
            await litellm.acompletion(model="openai/gen", messages=USER, api_base=srv.base_url,
                                      api_key=KEY, **kw)
        return srv.log_entries()

    assert len(_run(go(num_retries=0))) == 1
    assert len(_run(go(max_retries=0))) == 2
    entries = _run(go())
    assert len(entries) == 5
    assert all(b["mono_ns"] - a["mono_ns"] >= 0.1e9 for a, b in zip(entries[2:], entries[3:],
                                                                    strict=False))


def test_retries_after_429_wait_at_least_retry_after(sim_server_factory):  # noqa: F811
    """The openai client honours Retry-After; the request log shows the gaps."""
    srv = sim_server_factory(FaultConfig(rate_429=0.5, retry_after_s=0.2, seed=5))

    async def go():
        client = _openai(srv.base_url, max_retries=8)
        msgs = [[{"role": "user", "content": f"question {i}"}] for i in range(12)]
        out = await asyncio.gather(*(client.chat.completions.create(model="gen", messages=m)
                                     for m in msgs))
        await client.close()
        return out

    replies = _run(go())
    assert [r.choices[0].message.content for r in replies] == [
        f"[gen] question {i}" for i in range(12)]
    by_hash: dict[str, list[dict]] = defaultdict(list)
    for e in srv.log_entries():
        by_hash[e["hash"]].append(e)
    assert len(by_hash) == 12
    retried = 0
    for calls in by_hash.values():
        assert [c["attempt"] for c in calls] == list(range(len(calls)))
        assert [c["outcome"] for c in calls][-1] == "ok"
        for prev, nxt in zip(calls, calls[1:], strict=False):
            assert prev["outcome"] == "429"
            assert nxt["mono_ns"] - prev["mono_ns"] >= 0.2e9
            retried += 1
    assert retried > 0
    entries = read_log(srv.log_path)
    assert retry_after_violations(entries) == [] and duplicate_successes(entries) == {}
    # The checker flags retries that come too early.
    assert len(retry_after_violations(entries, slack_s=-1.0)) == retried


def test_5xx_reset_and_hang(sim_server_factory):  # noqa: F811
    import openai

    litellm = _litellm()
    servers = {name: sim_server_factory(cfg, name=name) for name, cfg in {
        "500": FaultConfig(rate_500=1.0), "503": FaultConfig(rate_503=1.0),
        "reset": FaultConfig(rate_reset=1.0),
        "hang": FaultConfig(rate_hang=1.0, hang_s=60)}.items()}

    async def call(name: str, timeout: float = 10.0):
        kw = dict(api_base=servers[name].base_url, api_key=KEY, num_retries=0, timeout=timeout)
        await litellm.acompletion(model="openai/gen", messages=USER, **kw)

    async def go():
        with pytest.raises(litellm.InternalServerError) as e500:
            await call("500")
        with pytest.raises(litellm.ServiceUnavailableError) as e503:
            await call("503")
        # litellm 1.110 maps a reset to InternalServerError (status 500, "Connection error.").
        with pytest.raises(litellm.InternalServerError, match="Connection error"):
            await call("reset")
        with pytest.raises(openai.APIConnectionError):
            await _openai(servers["reset"].base_url).chat.completions.create(
                model="gen", messages=USER)
        with pytest.raises(litellm.Timeout):
            await call("hang", timeout=0.5)
        with pytest.raises(openai.APITimeoutError):
            await _openai(servers["hang"].base_url, timeout=0.5).chat.completions.create(
                model="gen", messages=USER)
        return e500.value, e503.value

    e500, e503 = _run(go())
    assert (e500.status_code, e503.status_code) == (500, 503)
    for name, n in (("500", 1), ("503", 1), ("reset", 2), ("hang", 2)):
        assert [e["outcome"] for e in servers[name].log_entries()] == [name] * n
    # SIGTERM ends the hanging handlers at once and exits cleanly, without tracebacks.
    assert servers["hang"].stop(timeout=5) == 0
    for srv in servers.values():
        assert srv.stop() == 0 and "Traceback" not in srv.output()


def test_malformed_only_for_json_requests(sim_server_factory):  # noqa: F811
    srv = sim_server_factory(FaultConfig(rate_malformed=1.0))

    async def go():
        client = _openai(srv.base_url)
        judged = [await client.chat.completions.create(
            model="judge", messages=[*JUDGE, {"role": "user", "content": f"item {i}"}])
            for i in range(8)]
        plain = await client.chat.completions.create(model="gen", messages=USER)
        await client.close()
        return judged, plain

    judged, plain = _run(go())
    for r in judged:
        with pytest.raises(json.JSONDecodeError):
            json.loads(r.choices[0].message.content)
    assert plain.choices[0].message.content == "[gen] Say hello to Amara."
    entries = srv.log_entries()
    assert [e["outcome"] for e in entries] == ["malformed"] * 8 + ["ok"]
    assert {e["malform"] for e in entries[:8]} == {"truncate", "wrap"}


# ---------------------------------------------------------------- request log, seeds, shutdown

def _outcomes_of_sequence(srv) -> list[str]:
    async def go():
        client = _openai(srv.base_url)
        outcomes = []
        for i in range(30):
            try:
                await client.chat.completions.create(model="gen", messages=[
                    {"role": "user", "content": f"q{i % 10}"}])
                outcomes.append("ok")
            except Exception as err:  # noqa: BLE001
                outcomes.append(type(err).__name__)
        await client.close()
        return outcomes

    return _run(go())


def test_seeded_fault_pattern_is_reproducible(sim_server_factory):  # noqa: F811
    cfg = FaultConfig(rate_429=0.3, rate_500=0.2, seed=42)
    a = sim_server_factory(cfg, name="a")
    b = sim_server_factory(cfg, name="b")
    c = sim_server_factory(FaultConfig(rate_429=0.3, rate_500=0.2, seed=43), name="c")
    seq_a, seq_b, seq_c = (_outcomes_of_sequence(s) for s in (a, b, c))
    assert seq_a == seq_b and seq_a != seq_c
    assert {"ok", "RateLimitError", "InternalServerError"} <= set(seq_a)
    log_a = [(e["hash"], e["attempt"], e["outcome"]) for e in a.log_entries()]
    assert log_a == [(e["hash"], e["attempt"], e["outcome"]) for e in b.log_entries()]
    assert max(e[1] for e in log_a) == 2  # 10 bodies, each sent 3 times


def test_log_counts_every_request_and_never_the_key(sim_server_factory):  # noqa: F811
    srv = sim_server_factory(FaultConfig(rate_429=0.2, rate_503=0.2, latency_ms=1, seed=1))

    async def go():
        client = _openai(srv.base_url)
        results = await asyncio.gather(*(client.chat.completions.create(
            model="gen", messages=[{"role": "user", "content": f"n{i}"}]) for i in range(50)),
            return_exceptions=True)
        await client.close()
        return results

    results = _run(go())
    ok = sum(not isinstance(r, Exception) for r in results)
    assert srv.stop() == 0  # SIGTERM flushes the log
    lines = srv.log_path.read_text().splitlines()
    entries = [json.loads(line) for line in lines]
    assert len(entries) == 50 and sum(e["outcome"] == "ok" for e in entries) == ok
    assert {e["outcome"] for e in entries} == {"ok", "429", "503"}
    assert all(e["delivered"] for e in entries)
    assert all(e["prompt_tokens"] > 0 for e in entries if e["outcome"] == "ok")
    for text in (srv.log_path.read_text(), srv.output()):
        assert KEY not in text and KEY[3:] not in text


def _health(srv) -> dict:
    with urllib.request.urlopen(srv.url + "/health", timeout=5) as resp:
        return json.loads(resp.read())


def _wait_for(predicate, what: str, limit: int = 500) -> None:
    for _ in range(limit):
        if predicate():
            return
        time.sleep(0.02)
    raise AssertionError(f"timed out waiting for {what}")


def test_answer_to_a_killed_client_is_logged_undelivered(sim_server_factory):  # noqa: F811
    """A client killed mid-request: the call is logged with delivered=false (crash tests)."""
    srv = sim_server_factory(FaultConfig(latency_ms=1500))
    script = ("import urllib.request as u, sys; u.urlopen(u.Request(sys.argv[1], data=sys.argv[2]"
              ".encode(), headers={'Authorization': 'Bearer x'}), timeout=60)")
    body = json.dumps({"model": "gen", "messages": USER})
    client = subprocess.Popen([sys.executable, "-c", script,
                               srv.base_url + "/chat/completions", body])
    try:
        _wait_for(lambda: _health(srv)["in_flight"] == 1, "the request to arrive")
    finally:
        client.kill()
        client.wait()
    _wait_for(lambda: _health(srv)["in_flight"] == 0, "the request to finish")
    [entry] = srv.log_entries()
    assert entry["outcome"] == "ok" and entry["delivered"] is False


def _cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "judge.sim.cli", *args], capture_output=True,
                          text=True, timeout=30)


def test_cli_usage_errors(tmp_path):
    bad = _cli("--rate-429", "0.8", "--rate-500", "0.5", "--port", "0", "--backend", "echo")
    assert bad.returncode == 2
    assert bad.stderr.strip().splitlines()[-1].startswith("error: fault options: ")
    assert "fault options: fault rates sum to 1.3, must be <= 1" in bad.stderr
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        taken = _cli("--port", str(port), "--backend", "echo")
    assert taken.returncode == 2 and f"--port: cannot serve on 127.0.0.1:{port}" in taken.stderr
    unknown = _cli("--backend", "nope", "--port", "0")
    assert unknown.returncode == 2 and "unknown backend 'nope'" in unknown.stderr
    log = tmp_path / "a-directory"
    log.mkdir()
    unwritable = _cli("--backend", "echo", "--port", "0", "--log", str(log))
    assert unwritable.returncode == 2
    assert f"error: {log}: --log: cannot open the request log" in unwritable.stderr


@pytest.mark.skipif(not sim_available(), reason="judge.sim.provider not in this checkout yet")
def test_sim_backend_is_deterministic(sim_server_factory):  # noqa: F811
    srv = sim_server_factory(FaultConfig(), backend="sim")

    async def go():
        client = _openai(srv.base_url)
        msgs = [{"role": "user", "content": "My name is Amara. Can you help with my CV?"}]
        a = await client.chat.completions.create(model="generator", messages=msgs, seed=1)
        b = await client.chat.completions.create(model="generator", messages=msgs, seed=1)
        await client.close()
        return a, b

    a, b = _run(go())
    assert a.choices[0].message.content == b.choices[0].message.content != ""
    assert a.usage.completion_tokens > 0


def test_sigterm_exit_is_graceful(sim_server_factory):  # noqa: F811
    srv = sim_server_factory(FaultConfig(), name="term")
    srv.proc.send_signal(signal.SIGTERM)
    assert srv.proc.wait(timeout=10) == 0
    assert "judge serve-sim: stopped" in srv.output()
