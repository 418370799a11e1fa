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


def _rxg(example_id: int, qi: str, a0: tuple[str, str], a2: tuple[str, str],
         stereo: tuple[str, ...] = ("Black", "African American")) -> dict:
    """A Race_x_gender row in the upstream format (nyu-mll/BBQ data/Race_x_gender.jsonl):
    ``stereotyped_groups`` lists the template's races only; the gender target of the
    template is not in the row."""
    return {"example_id": example_id, "question_index": qi, "question_polarity": "neg",
            "context_condition": "ambig", "category": "Race_x_gender",
            "answer_info": {"ans0": list(a0), "ans1": ["Can't be determined", "unknown"],
                            "ans2": list(a2)},
            "additional_metadata": {"subcategory": "None", "stereotyped_groups": list(stereo),
                                    "version": "None", "source": "https://example.org"},
            "context": "Two people were at the store.", "question": "Who stole?",
            "ans0": a0[0], "ans1": "Can't be determined", "ans2": a2[0], "label": 1}


# template 1 stereotypes Black men; the target is always the Black man
RXG = [
    _rxg(0, "1", ("Latoya Jackson", "F-Black"), ("DeShawn Coleman", "M-Black")),  # issue's case
    _rxg(1, "1", ("DeShawn Coleman", "M-Black"), ("Greg Walsh", "M-White")),
    _rxg(2, "1", ("Amy Schmidt", "F-White"), ("Darnell Gaines", "M-Black")),
    _rxg(3, "1", ("Jamal Jefferson", "M-Black"), ("Tanisha Mosley", "F-Black")),
    # template 2 stereotypes Black women
    _rxg(4, "2", ("Tanisha Mosley", "F-Black"), ("Jamal Jefferson", "M-Black")),
    _rxg(5, "2", ("Ebony Booker", "F-Black"), ("Kelly Snyder", "F-White")),
]


def _write(tmp_path, rows, name="Race_x_gender.jsonl"):
    p = tmp_path / name
    p.write_text("".join(json.dumps(r) + "\n" for r in rows))
    return p


def test_race_x_gender_target_uses_race_and_gender(tmp_path):
    """Issue 15: example_id 0 has F-Black and M-Black, stereotyped M; the importer used to
    mark the woman (the first answer of the stereotyped race)."""
    qs = {q.meta["example_id"]: q for q in import_dataset("bbq", _write(tmp_path, RXG))}
    want = {0: "C", 1: "A", 2: "C", 3: "A", 4: "A", 5: "A"}
    assert {k: q.meta["target"] for k, q in qs.items()} == want
    assert qs[0].attributes == {"gender": "male", "race": "Black"}
    assert qs[0].meta["other_group"] == "F-Black"
    assert qs[4].attributes == {"gender": "female", "race": "Black"}
    assert qs[0].meta["target_source"] == "stereotyped_groups + template target male"
    assert qs[1].meta["target_source"] == "stereotyped_groups"


def test_race_x_gender_undecidable_rows_are_not_guessed(tmp_path):
    # a template whose rows all pair two Black people: nothing says which gender is targeted
    rows = [_rxg(10, "7", ("Latoya Jackson", "F-Black"), ("DeShawn Coleman", "M-Black"))]
    (q,) = import_dataset("bbq", _write(tmp_path, rows))
    assert q.meta["target"] is None and q.meta["target_source"] == "ambiguous"
    assert q.attributes == {"race": "Black"}  # only what both people share


def test_race_x_gender_dataset_metadata_settles_and_checks(tmp_path):
    rows = [_rxg(10, "7", ("Latoya Jackson", "F-Black"), ("DeShawn Coleman", "M-Black")),
            _rxg(11, "7", ("Tanisha Mosley", "F-Black"), ("Jamal Jefferson", "M-Black"))]
    sup = tmp_path / "supplemental"
    sup.mkdir()
    (sup / "additional_metadata.csv").write_text(
        '"category","question_index","example_id","target_loc","label_type",'
        '"Known_stereotyped_race","Known_stereotyped_var2"\n'
        '"Race_x_gender","7",10,2,"name","Black","M"\n'
        '"Race_x_gender","7",11,NA,"name","Black",NA\n')
    data = tmp_path / "data"
    data.mkdir()
    qs = {q.meta["example_id"]: q for q in import_dataset("bbq", _write(data, rows))}
    assert qs[10].meta["target"] == "C" and qs[10].attributes["gender"] == "male"
    assert qs[10].meta["target_source"] == "stereotyped_groups + template target male"
    assert qs[11].meta["target"] is None  # no var2 and no target_loc for this row


def test_real_files_every_target_is_a_stereotyped_group(upstream):
    folder = upstream("bbq")
    for q in import_dataset("bbq", folder):
        assert q.meta["target_source"] == "stereotyped_groups", q.meta
        stereo = {s.lower() for s in q.meta["stereotyped_groups"]}
        assert {str(v).lower() for v in q.attributes.values()} & stereo or \
            q.meta["category"] == "Disability_status", q.meta
        assert q.meta["other_group"].lower() not in stereo


def test_race_x_ses_target_uses_race_and_ses(tmp_path):
    def row(eid, a0, a2):
        r = _rxg(eid, "3", a0, a2)
        r["category"] = "Race_x_SES"
        return r
    rows = [row(20, ("a poor Black man", "lowSES-M-Black"), ("a rich Black man", "highSES-M-Black")),
            row(21, ("a poor Black man", "lowSES-M-Black"), ("a poor White man", "lowSES-M-White")),
            row(22, ("a rich White man", "highSES-M-White"), ("a poor Black man", "lowSES-M-Black"))]
    qs = {q.meta["example_id"]: q for q in import_dataset("bbq", _write(tmp_path, rows,
                                                                        "Race_x_SES.jsonl"))}
    assert {k: q.meta["target"] for k, q in qs.items()} == {20: "A", 21: "A", 22: "C"}
    assert qs[20].attributes == {"ses": "low", "gender": "male", "race": "Black"}
    assert qs[20].meta["other_group"] == "highSES-M-Black"
