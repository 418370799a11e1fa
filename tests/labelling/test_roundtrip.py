"""The same answers through the page, the CSV sheet and Label Studio give the same labels
and identical calibration results."""

from __future__ import annotations

import csv
import json
import threading
import urllib.error
import urllib.request

import pandas as pd
import pytest

from judge._cli.calibrate import write_sample_sheet
from judge.calibration import ScaleSpec, calibrate_frames
from judge.labelling import (
    AnswerLog,
    answers_to_labels,
    import_label_studio,
    read_answers,
    read_filled_csv,
    read_key,
    read_manifest,
    read_sheet,
)
from judge.labelling._server import serve
from tests.labelling.conftest import judged_items

RATERS = ["rater-1", "rater-2"]


def _answer(rater: str, row_id: str) -> dict:
    h = sum(map(ord, rater + row_id))
    return {"helpful": 1 + h % 5, "safe": "yes" if h % 3 else "no"}


@pytest.fixture
def study(tmp_path):
    paths = write_sample_sheet(judged_items(), tmp_path, 24, seed=5, rubric="helpfulness",
                               criterion="helpful", raters=2, overlap=1.0)
    return tmp_path, paths


def _post(url: str, body: dict, headers: dict | None = None) -> tuple[int, dict]:
    req = urllib.request.Request(url + "api/answer", data=json.dumps(body).encode(),
                                 headers={"Content-Type": "application/json",
                                          **(headers or {})}, method="POST")
    try:
        with urllib.request.urlopen(req, timeout=10) as r:
            return r.status, json.loads(r.read())
    except urllib.error.HTTPError as err:
        return err.code, json.loads(err.read())


@pytest.fixture
def server(study):
    d, paths = study
    srv = serve(paths["jsonl:rater-1"], d / "page.labels.jsonl")
    t = threading.Thread(target=srv.serve_forever, daemon=True)
    t.start()
    yield srv
    srv.shutdown()
    srv.server_close()


def _via_page(d, paths):
    out = d / "page-labels.jsonl"
    for rater in RATERS:
        srv = serve(paths[f"jsonl:{rater}"], out)
        t = threading.Thread(target=srv.serve_forever, daemon=True)
        t.start()
        try:
            for row in srv.rows:
                code, got = _post(srv.url, {"rater": rater, "row_id": row.row_id,
                                            "scores": _answer(rater, row.row_id),
                                            "seconds": 12.5})
                assert code == 200, got
        finally:
            srv.shutdown()
            srv.server_close()
    return read_answers(out)


def _via_csv(d, paths):
    man, answers = read_manifest(d), []
    for rater in RATERS:
        p = paths[f"csv:{rater}"]
        with open(p, newline="", encoding="utf-8") as fh:
            rows = list(csv.DictReader(fh))
        for row in rows:
            a = _answer(rater, row["row_id"])
            row["score.helpful"], row["score.safe"] = str(a["helpful"]), a["safe"]
        with open(p, "w", newline="", encoding="utf-8") as fh:
            wr = csv.DictWriter(fh, list(rows[0]))
            wr.writeheader()
            wr.writerows(rows)
        answers += read_filled_csv(p, man)
    return answers


def _via_label_studio(d):
    tasks = json.loads((d / "labelstudio" / "helpfulness.tasks.json").read_text())
    for t in tasks:
        rid = t["data"]["row_id"]
        t["annotations"] = [
            {"completed_by": {"email": r}, "was_cancelled": False,
             "result": [{"from_name": "helpful", "to_name": "response", "type": "choices",
                         "value": {"choices": [str(_answer(r, rid)["helpful"])]}},
                        {"from_name": "safe", "to_name": "response", "type": "choices",
                         "value": {"choices": [_answer(r, rid)["safe"]]}}]}
            for r in RATERS]
        t["annotations"].append({"completed_by": 99, "was_cancelled": True, "result": []})
    export = d / "export.json"
    export.write_text(json.dumps(tasks))
    return import_label_studio(export, read_manifest(d), read_key(d))


def _frame(labels) -> pd.DataFrame:
    return pd.DataFrame([{"item_id": x.target_id, "rater": x.rater, "criterion": x.criterion,
                          "score": x.score} for x in labels]).sort_values(
        ["item_id", "rater", "criterion"], ignore_index=True)


def test_page_csv_and_label_studio_give_identical_calibration(study):
    d, paths = study
    key = read_key(d)
    frames = {name: _frame(answers_to_labels(ans, key)) for name, ans in (
        ("page", _via_page(d, paths)), ("csv", _via_csv(d, paths)),
        ("label_studio", _via_label_studio(d)))}
    assert len(frames["page"]) == 24 * 2 * 2
    pd.testing.assert_frame_equal(frames["page"], frames["csv"])
    pd.testing.assert_frame_equal(frames["page"], frames["label_studio"])
    items = judged_items()
    j = items.rename(columns={"score": "score"}).assign(judge="j", criterion="helpful")[
        ["item_id", "judge", "criterion", "score", "group.tribe", "cluster"]]
    weights = pd.DataFrame({"item_id": [k.item_id for k in key.values()],
                            "inclusion_prob": [k.inclusion_prob for k in key.values()]})
    results = [calibrate_frames(j, f[f.criterion == "helpful"], B=50, seed=1,
                                scale=ScaleSpec(kind="likert", min=1, max=5),
                                weights=weights).to_json() for f in frames.values()]
    dump = [json.dumps(r, sort_keys=True, default=str) for r in results]
    assert dump[0] == dump[1] == dump[2]
    assert results[0]["agreement"]


def test_page_rejects_bad_answers(server):
    row = server.rows[0]
    ok = {"rater": "ann", "row_id": row.row_id, "scores": {"helpful": 3, "safe": "no"}}
    for bad, msg in (({"helpful": 6, "safe": "no"}, "helpful: 6 is not on the scale"),
                     ({"helpful": "4.5", "safe": "no"}, "is not on the scale"),
                     ({"helpful": True, "safe": "no"}, "is not on the scale"),
                     ({"helpful": 3}, "answer exactly ['helpful', 'safe']"),
                     ({"helpful": [3], "safe": "no"}, "is not on the scale")):
        code, got = _post(server.url, {**ok, "scores": bad})
        assert code == 422 and msg in got["error"], (bad, got)
    code, got = _post(server.url, {**ok, "row_id": "row-nope"})
    assert code == 422 and "not on this sheet" in got["error"]
    code, got = _post(server.url, {**ok, "rater": ""})
    assert code == 422
    code, got = _post(server.url, {"rater": "ann", "row_id": row.row_id, "skipped": True})
    assert code == 422 and "skip_reason" in got["error"]
    code, _ = _post(server.url, ok, {"Origin": "http://evil.example"})
    assert code == 403
    code, _ = _post(server.url, ok, {"Host": "evil.example"})
    assert code == 421
    assert read_answers(server.log.path) == []
    code, _ = _post(server.url, ok)
    assert code == 200 and len(read_answers(server.log.path)) == 1
    with urllib.request.urlopen(server.url, timeout=10) as r:
        csp = r.headers["Content-Security-Policy"]
        assert "default-src 'none'" in csp and "script-src 'self'" in csp
        assert "<script>" not in r.read().decode().replace('<script src="/app.js">', "")
    with urllib.request.urlopen(server.url + "api/sheet", timeout=10) as r:
        rows = json.loads(r.read())["rows"]
    assert set(rows[0]) == {"row_id", "position", "rubric", "instructions", "criteria",
                            "query", "response"}


def test_answer_log_drops_a_torn_tail_and_keeps_the_rest(tmp_path):
    p = tmp_path / "labels.jsonl"
    log = AnswerLog(p)
    from judge.labelling import Answer

    a = Answer(row_id="r1", rater="ann", scores={"q": 1}, answered_at="t")
    log.append(a)
    with open(p, "a") as fh:
        fh.write('{"row_id": "r2", "rat')  # killed mid-write
    assert read_answers(p) == [a]
    AnswerLog(p).append(a.model_copy(update={"row_id": "r3"}))
    assert [x.row_id for x in read_answers(p)] == ["r1", "r3"]


def test_sheet_rows_round_trip(study):
    d, paths = study
    rows = read_sheet(paths["jsonl"])
    assert [r.position for r in rows] == list(range(1, len(rows) + 1))
    assert rows[0].criteria[0].anchors["1"] == "anchor 1"


def test_label_studio_config_escapes_rubric_text():
    import xml.etree.ElementTree as ET

    from judge.labelling import CriterionSpec, project_config

    nasty = CriterionSpec(id="q", question='Is it "ok" <script>alert(1)</script> & fine?',
                          kind="likert", min=1, max=3,
                          anchors={"1": "<img src=x onerror=alert(1)>", "2": "a\nb",
                                   "3": "=HYPERLINK(\"x\")"})
    root = ET.fromstring(project_config([nasty], title="t<>", instructions="i & j"))
    assert [e.tag for e in root.iter()].count("script") == 0
    assert [e.tag for e in root.iter()].count("img") == 0
    headers = [e.get("value") for e in root.iter("Header")]
    assert nasty.question in headers and "t<>" in headers
    hints = [e.get("hint") for e in root.iter("Choice")]
    assert hints == ["<img src=x onerror=alert(1)>", "a\nb", '=HYPERLINK("x")']
    assert [e.get("value") for e in root.iter("Choice")] == ["1", "2", "3"]
