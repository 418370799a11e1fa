"""The bad-input catalogue: each case is a one-line error naming the file and field and what
to do, exit code 2, and nothing already written in the run directory changes."""

from __future__ import annotations

import hashlib
import json
import shutil
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

import judge
from judge.cli import app
from judge.config import load_config
from tests.fixtures.shared import once_per_session

ROOT = Path(judge.__file__).resolve().parents[1]
pytestmark = pytest.mark.e2e


def snapshot(d: Path) -> dict[str, str]:
    return {str(p.relative_to(d)): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in sorted(d.rglob("*")) if p.is_file()}


@pytest.fixture(scope="module")
def done_run(tmp_path_factory, small_config_fn):
    """A finished small run, shared by every case and xdist worker (each case works on a
    copy)."""
    tmp = once_per_session(tmp_path_factory, "bad-input-done-run",
                           lambda d: judge.run(load_config(small_config_fn(d, "done"))))
    return tmp, load_config(tmp / "done.yaml")


@pytest.fixture
def case(done_run, tmp_path):
    """(tmp_path, config dict, run dir copy) for one case."""
    src_tmp, cfg = done_run
    run = tmp_path / "runs" / "done"
    shutil.copytree(cfg.run_dir, run)
    data = yaml.safe_load((src_tmp / "done.yaml").read_text())
    data["output_dir"] = str(tmp_path / "runs")
    return tmp_path, data, run


def invoke(*args: str, env: dict | None = None):
    r = CliRunner().invoke(app, list(args), env=env)
    return r.exit_code, (r.stderr or "").strip(), (r.stdout or "").strip()


def write_cfg(tmp: Path, data: dict | str, name: str = "c.yaml") -> Path:
    p = tmp / name
    p.write_text(data if isinstance(data, str) else yaml.safe_dump(data, sort_keys=False))
    return p


def expect(code_err, path: Path | str | None, *needles: str) -> str:
    code, err, _ = code_err
    assert code == 2, err
    line = err.splitlines()[-1] if err else ""
    assert len(err.splitlines()) == 1, err
    assert line.startswith("error: ")
    if path is not None:
        assert str(path) in line, line
    for n in needles:
        assert n in line, line
    return line


def config_case(mutate):
    def run(tmp, data, run_dir):
        mutate(data)
        p = write_cfg(tmp, data)
        return p, invoke("run", str(p), "--no-progress")
    return run


CONFIG_CASES = {
    "unknown key": (lambda d: d.update(bogus=1), ["bogus: unknown key"]),
    "wrong type": (lambda d: d["generators"][0].update(concurrency="many"),
                   ["generators[0].concurrency", "'many'"]),
    "missing required": (lambda d: d.pop("generators"), ["generators: Field required"]),
    "negative budget": (lambda d: d.update(budget_usd=-1), ["budget_usd"]),
    "bad run name": (lambda d: d.update(name="a b/c"), ["name"]),
    "unknown probe": (lambda d: d.update(probes=["telepathy"]), ["probes", "telepathy"]),
    "unknown rubric": (lambda d: d.update(rubrics=["no_such_rubric"]), ["no_such_rubric"]),
    "unknown rubric version": (lambda d: d.update(rubrics=["answer_quality@9.9.9"]),
                               ["answer_quality", "9.9.9"]),
    "unknown provider": (lambda d: d.update(generators=[{"model": "nosuchprovider/m"}]),
                         ["nosuchprovider/m"]),
    "missing api key env": (lambda d: d.update(judges=[{"model": "openai/gpt-4o",
                                                        "api_key_env": "JUDGE_TEST_NOKEY"}]),
                            ["JUDGE_TEST_NOKEY", "not set"]),
    "missing scenario file": (lambda d: d["queries"].update(scenarios=["/nonexistent/s.yaml"]),
                              ["/nonexistent/s.yaml"]),
    "missing queries file": (lambda d: d.update(queries={"path": "/nonexistent/q.jsonl"}),
                             ["/nonexistent/q.jsonl"]),
    "missing human labels": (lambda d: d.update(human_labels={"path": "/nonexistent/h.csv"}),
                             ["/nonexistent/h.csv"]),
}


@pytest.mark.parametrize("name", sorted(CONFIG_CASES))
def test_config_catalogue(name, case, monkeypatch):
    tmp, data, run = case
    monkeypatch.delenv("JUDGE_TEST_NOKEY", raising=False)
    before = snapshot(run)
    mutate, needles = CONFIG_CASES[name]
    p, result = config_case(mutate)(tmp, data, run)
    expect(result, None, *needles)
    assert snapshot(run) == before


def test_missing_openai_key_named_before_any_work(case, monkeypatch):
    tmp, data, run = case
    monkeypatch.delenv("OPENAI_API_KEY", raising=False)
    data["judges"] = [{"model": "openai/gpt-4o-mini"}]
    p = write_cfg(tmp, data)
    before = snapshot(run)
    expect(invoke("run", str(p)), None, "OPENAI_API_KEY")
    assert snapshot(run) == before


@pytest.mark.parametrize("text,needle", [
    ("name: [unclosed\n", "invalid YAML"),
    ("- just\n- a list\n", "must be a YAML mapping"),
    ("", "must be a YAML mapping"),
])
def test_malformed_config_files(tmp_path, text, needle):
    p = write_cfg(tmp_path, text)
    expect(invoke("run", str(p)), p, needle)


def test_non_utf8_config(tmp_path):
    p = tmp_path / "c.yaml"
    p.write_bytes(b"name: caf\xe9\n")
    expect(invoke("run", str(p)), p, "not UTF-8")


def test_missing_config_file(tmp_path):
    expect(invoke("run", str(tmp_path / "nope.yaml")), tmp_path / "nope.yaml", "file not found")


def test_unwritable_output_dir(case):
    tmp, data, run = case
    blocker = tmp / "afile"
    blocker.write_text("x")
    data["output_dir"] = str(blocker)
    p = write_cfg(tmp, data)
    expect(invoke("run", str(p)), blocker, "cannot create run directory")


def test_force_unknown_stage(case):
    tmp, data, run = case
    p = write_cfg(tmp, data)
    before = snapshot(run)
    expect(invoke("run", str(p), "--force", "everything"), None, "--force everything")
    assert snapshot(run) == before


def test_corrupt_middle_line_in_run_dir(case):
    tmp, data, run = case
    p = write_cfg(tmp, data)
    g = run / "generations.jsonl"
    lines = g.read_bytes().splitlines(keepends=True)
    g.write_bytes(lines[0] + b"{broken json\n" + b"".join(lines[1:]))
    before = snapshot(run)
    expect(invoke("run", str(p)), g, ":2:", "invalid JSON")
    after = snapshot(run)
    assert after.pop("manifest.json") != before.pop("manifest.json")
    assert after == before  # data untouched; the manifest records the error
    assert "invalid JSON" in json.loads((run / "manifest.json").read_text())["last_error"]


def test_newer_schema_version_in_run_dir(case):
    tmp, data, run = case
    p = write_cfg(tmp, data)
    q = run / "queries.jsonl"
    lines = q.read_text().splitlines()
    obj = json.loads(lines[0])
    obj["schema_version"] = 99
    q.write_text("\n".join([json.dumps(obj), *lines[1:]]) + "\n")
    before = snapshot(run)
    expect(invoke("run", str(p)), q, "newer than this judge")
    after = snapshot(run)
    after.pop("manifest.json"), before.pop("manifest.json")
    assert after == before


def test_human_labels_missing_column(case):
    tmp, data, run = case
    labels = tmp / "labels.csv"
    labels.write_text("item,rater,score\nx,a,3\n")
    data["human_labels"] = {"path": str(labels)}
    p = write_cfg(tmp, data)
    expect(invoke("calibrate", str(p)), labels, "missing column", "target_id")


def test_schema_unknown_record():
    code, err, _ = invoke("schema", "nope")
    assert code == 2 and "unknown record or frame 'nope'" in err


def test_rubric_lint_reports_file_line_col(tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: x\nversion: 1.0\ncriteria: [\n")
    code, err, out = invoke("rubrics", "lint", str(bad))
    assert code == 2
    assert f"{bad}:" in (out + err)


def test_disk_full_then_resume(tmp_path, small_config_fn):
    """A full disk (a small tmpfs) stops the run with a clear error; after freeing space the
    run resumes and ends with the same records as an uninterrupted run."""
    import subprocess

    mnt = tmp_path / "small"
    mnt.mkdir()
    r = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=40k", "tmpfs", str(mnt)],
                       capture_output=True, text=True)
    if r.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs here ({r.stderr.strip()}); see docs/ERRORS.md")
    try:
        ref = load_config(small_config_fn(tmp_path, "ref", human_labels=None))
        judge.run(ref, stages=["generate", "score"])
        p = small_config_fn(tmp_path, "full", output_dir=str(mnt), human_labels=None,
                            flush_every=4)
        code, err, _ = invoke("run", str(p), "--no-progress")
        assert code == 2 and "No space left on device" in err and "re-run to resume" in err
        assert len(err.splitlines()) == 1
        subprocess.run(["mount", "-o", "remount,size=64m", str(mnt)], check=True)
        code, err, _ = invoke("run", str(p), "--no-progress")
        assert code == 0, err
        for f, idf in (("generations.jsonl", "generation_id"), ("judgments.jsonl", "judgment_id")):
            a = {json.loads(x)[idf] for x in (ref.run_dir / f).read_text().splitlines()}
            lines = (mnt / "full" / f).read_text().splitlines()
            b = [json.loads(x)[idf] for x in lines]
            assert set(b) == a and len(b) == len(a), f
    finally:
        subprocess.run(["umount", str(mnt)], capture_output=True)
