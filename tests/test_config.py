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
