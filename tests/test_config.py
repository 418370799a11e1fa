import subprocess
import sys

import pytest

from judge.config import load_config
from judge.errors import ConfigError


def write(tmp_path, text):
    p = tmp_path / "c.yaml"
    p.write_text(text)
    return p


BASE = """name: x
queries: {scenarios: [a.yaml]}
generators:
  - model: sim/generator
"""


def test_valid_config_loads(tmp_path):
    cfg = load_config(write(tmp_path, BASE))
    assert cfg.generators[0].label == "sim/generator" and cfg.generators[0].concurrency == 16


def test_unknown_key_names_file_line_and_field(tmp_path):
    p = write(tmp_path, BASE + "    concurency: 4\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.one_line() == f"{p}:5: generators[0].concurency: unknown key"
    assert e.value.exit_code == 2


def test_wrong_type_is_one_line(tmp_path):
    p = write(tmp_path, BASE + "seed: abc\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    msg = e.value.one_line()
    assert msg.startswith(f"{p}:5: seed: ") and "'abc'" in msg and "\n" not in msg


def test_yaml_syntax_error_has_line_and_col(tmp_path):
    p = write(tmp_path, "name: [x\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert e.value.line == 2 and "invalid YAML" in e.value.message


def test_missing_file_and_non_utf8(tmp_path):
    with pytest.raises(ConfigError, match="file not found"):
        load_config(tmp_path / "nope.yaml")
    p = tmp_path / "bad.yaml"
    p.write_bytes(b"name: \xff\xfe\n")
    with pytest.raises(ConfigError, match="not UTF-8"):
        load_config(p)


def test_cli_exit_code_2_and_one_line(tmp_path):
    p = write(tmp_path, BASE + "bogus: 1\n")
    r = subprocess.run([sys.executable, "-m", "judge.cli", "run", str(p)], capture_output=True,
                       text=True)
    assert r.returncode == 2
    assert r.stderr.strip() == f"error: {p}:5: bogus: unknown key"


def test_model_prices_set_both_or_neither(tmp_path):
    cfg = load_config(write(tmp_path, BASE + "    input_cost_per_mtok: 0.15\n"
                                             "    output_cost_per_mtok: 0.6\n"))
    assert cfg.generators[0].input_cost_per_mtok == 0.15
    p = write(tmp_path, BASE + "    input_cost_per_mtok: 0.15\n")
    with pytest.raises(ConfigError) as e:
        load_config(p)
    assert "set both input_cost_per_mtok and output_cost_per_mtok" in str(e.value)
    assert "generators[0]" in str(e.value)


def test_configured_price_wins_and_unknown_stays_none():
    from judge.config import ModelSpec
    from judge.llm.client import call_cost
    from judge.records import Usage

    u = Usage(prompt_tokens=1000, completion_tokens=500)
    spec = ModelSpec(model="openai/my-model", api_base="http://x/v1", input_cost_per_mtok=2.0,
                     output_cost_per_mtok=8.0)
    assert call_cost(spec.model, u, spec) == pytest.approx((1000 * 2 + 500 * 8) / 1e6)
    assert call_cost("openai/my-model", u) is None


# ---- secrets, names and YAML bounds (issue 14)

@pytest.mark.parametrize("params,where", [
    ({"api_key": "x"}, "params.api_key"), ({"Authorization": "x"}, "params.Authorization"),
    ({"extra_headers": {"X-Api-Key": "x"}}, "params.extra_headers.X-Api-Key"),
    ({"client_secret": "x"}, "params.client_secret"),
])
def test_secret_params_are_refused(params, where):
    from judge.config import secret_param_path

    assert secret_param_path(params) == where


@pytest.mark.parametrize("params", [{"max_tokens": 5}, {"temperature": 0, "top_k": 3},
                                    {"stop": ["\n"]}, {"response_format": {"type": "json"}}])
def test_ordinary_params_pass(params):
    from judge.config import GeneratorSpec

    assert GeneratorSpec(model="openai/x", params=params).params == params


def test_secret_error_never_shows_the_value(tmp_path):
    import secrets

    from judge.config import load_config

    key = "sk-" + secrets.token_hex(13)
    p = tmp_path / "c.yaml"
    p.write_text("name: x\nqueries: {}\ngenerators:\n  - model: openai/x\n"
                 f"    api_key_env: {key}\n")
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    assert key[:6] not in ei.value.one_line() and "api_key_env" in ei.value.one_line()


def test_redact_registered_variable(monkeypatch):
    from judge.config import redact, register_secret_env

    monkeypatch.setenv("DB_PASSPHRASE_X", "correct-horse-battery")
    register_secret_env("DB_PASSPHRASE_X")
    assert redact("got correct-horse-battery") == "got <DB_PASSPHRASE_X>"


def test_huge_invalid_value_is_reported_with_a_bounded_repr(tmp_path):
    from judge.config import load_config

    p = tmp_path / "c.yaml"
    p.write_text("name: x\nqueries: {}\ngenerators: [{model: sim/g}]\nseed: [" +
                 ",".join(["1"] * 50000) + "]\n")
    with pytest.raises(ConfigError) as ei:
        load_config(p)
    assert len(ei.value.one_line()) < 400 and "seed" in ei.value.one_line()
