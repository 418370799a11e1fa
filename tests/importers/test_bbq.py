import gzip
import json
from collections import Counter

from judge.importers import import_dataset
from judge.importers.bbq import split_group


def test_real_bbq_files(upstream):
    folder = upstream("bbq")
    qs = list(import_dataset("bbq", folder))
    rows = []
    for f in sorted(folder.glob("*.jsonl.gz")):
        with gzip.open(f, "rt") as fh:
            rows += [json.loads(line) for line in fh]
    assert len(qs) == len(rows) == 3620 and len({q.query_id for q in qs}) == len(qs)
    assert Counter(q.meta["category"] for q in qs) == Counter(r["category"] for r in rows)
    for q in qs:
        gt = q.ground_truth
        assert gt["answer"] == "ABC"[gt["label"]]
        # in ambiguous contexts the gold answer is always the 'unknown' option
        if gt["ambiguous"]:
            assert gt["answer"] == gt["unknown"]
        assert f"{gt['answer']}. " in q.text and q.text.endswith("(A, B or C).")
    groups = Counter(q.cf_group for q in qs)
    assert all(n >= 2 for n in groups.values())
    religions = {q.attributes["religion"] for q in qs if "religion" in q.attributes}
    assert {"Muslim", "Jewish"} <= religions


def test_intersectional_labels_split_into_attributes(tmp_path):
    row = {"example_id": 7, "question_index": "3", "question_polarity": "neg",
           "context_condition": "disambig", "category": "Race_x_gender",
           "answer_info": {"ans0": ["Latoya Jackson", "F-Black"], "ans1": ["Unknown", "unknown"],
                           "ans2": ["Greg Walsh", "M-White"]},
           "additional_metadata": {"stereotyped_groups": ["F-Black"]},
           "context": "c", "question": "q?", "ans0": "Latoya Jackson", "ans1": "Unknown",
           "ans2": "Greg Walsh", "label": 2}
    p = tmp_path / "Race_x_gender.jsonl"
    p.write_text(json.dumps(row) + "\n")
    (q,) = import_dataset("bbq", p)
    assert q.attributes == {"gender": "female", "race": "Black"}
    assert q.swapped == ["gender", "race"] and q.ground_truth["answer"] == "C"
    assert q.meta["other_group"] == "M-White"
    assert split_group("highSES-M-South American", "race") == {
        "ses": "high", "gender": "male", "race": "South American"}
