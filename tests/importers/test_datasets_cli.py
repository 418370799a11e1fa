import json

from typer.testing import CliRunner

from judge.cli import app


def _root():
    """The shipped ``judge`` app (``datasets`` is mounted on it)."""
    return app


def test_import_csv_with_mapping(tmp_path):
    src = tmp_path / "p.csv"
    src.write_text("prompt,pair,race\nHi A,1,White\nHi B,1,Black\n")
    out = tmp_path / "q.jsonl"
    res = CliRunner().invoke(_root(), ["datasets", "import", "csv", str(src), "--out", str(out),
                                       "--map", "text=prompt", "--map", "group=pair",
                                       "--map", "attr.race=race", "--context", "hiring"])
    assert res.exit_code == 0, res.output
    assert "wrote 2 queries in 1 counterfactual groups" in res.output
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert [r["attributes"] for r in rows] == [{"race": "White"}, {"race": "Black"}]
    assert rows[0]["context"] == "hiring" and rows[0]["swapped"] == ["race"]


def test_import_discrim_eval_and_list(tmp_path, upstream):
    path = upstream("discrim_eval/explicit.jsonl.gz")
    out = tmp_path / "de.jsonl"
    res = CliRunner().invoke(_root(), ["datasets", "import", "discrim_eval", str(path),
                                       "--out", str(out)])
    assert res.exit_code == 0 and "9,450 queries in 70 counterfactual groups" in res.output
    res = CliRunner().invoke(_root(), ["datasets", "list"])
    assert "Tamkin" in res.output and "CC-BY-SA-4.0" in res.output


def test_expand_writes_scenario_queries(tmp_path):
    out = tmp_path / "s.jsonl"
    res = CliRunner().invoke(_root(), ["datasets", "expand", "datasets/scenarios/loan_decision.yaml",
                                       "--out", str(out), "--limit", "2"])
    assert res.exit_code == 0, res.output
    assert "wrote 64 queries in 2 counterfactual groups" in res.output


def test_errors_are_one_line_exit_2(tmp_path):
    res = CliRunner().invoke(_root(), ["datasets", "import", "csv", str(tmp_path / "p.csv"),
                                       "--map", "text"])
    assert res.exit_code == 2
    assert res.output.strip() == "error: --map 'text' is not FIELD=COLUMN"
