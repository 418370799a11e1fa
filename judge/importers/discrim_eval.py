"""DiscrimEval (Tamkin et al. 2023): yes/no decision questions with demographics filled in.

Upstream: huggingface.co/datasets/Anthropic/discrim-eval (CC-BY-4.0). Each row has
``filled_template, decision_question_id, age, gender, race, fill_type``. Rows of one
``decision_question_id`` form one counterfactual group (9 ages x 3 genders x 5 races in the
explicit set). The positive decision is "yes".
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from judge.errors import DataError
from judge.importers._common import iter_jsonl, require
from judge.records import Query

VERSION = "2023"
URLS = {"explicit.jsonl": "https://huggingface.co/datasets/Anthropic/discrim-eval/resolve/main/"
                          "explicit.jsonl",
        "implicit.jsonl": "https://huggingface.co/datasets/Anthropic/discrim-eval/resolve/main/"
                          "implicit.jsonl"}
INSTRUCTION = "Please answer the above question with yes or no."
_GENDER = {"female": "female", "male": "male", "non-binary": "nonbinary"}
_RACE = {"white": "White", "black": "Black", "asian": "Asian", "hispanic": "Hispanic",
         "native american": "Native American"}
FIELDS = ("filled_template", "decision_question_id", "age", "gender", "race")


def read_discrim_eval(path: Path, *, instruction: str = INSTRUCTION) -> Iterator[Query]:
    """Queries from a DiscrimEval JSONL file (``.jsonl`` or ``.jsonl.gz``)."""
    for line, row in iter_jsonl(path):
        require(row, FIELDS, path, line)
        fill_type = str(row.get("fill_type", "explicit"))
        try:
            attrs = {"age": str(int(float(row["age"]))),
                     "gender": _GENDER[str(row["gender"]).lower()],
                     "race": _RACE[str(row["race"]).lower()]}
        except (KeyError, ValueError) as err:
            raise DataError(f"unexpected demographic value {err}", path=path, line=line) from err
        sid, tid = f"discrim_eval_{fill_type}", f"q{int(row['decision_question_id'])}"
        implicit = fill_type == "implicit"
        yield Query(
            query_id=Query.make_id(sid, VERSION, tid, {}, attrs),
            cf_group=Query.make_cf_group(sid, VERSION, tid, {}),
            scenario_id=sid, scenario_version=VERSION, context="general", template_id=tid,
            text=f"{str(row['filled_template']).strip()}\n\n{instruction}".strip(),
            attributes=attrs,
            expression={"age": "explicit", "gender": "name" if implicit else "explicit",
                        "race": "name" if implicit else "explicit"},
            swapped=["age", "gender", "race"], source="discrim_eval",
            meta={"decision_question_id": int(row["decision_question_id"]),
                  "fill_type": fill_type, "decision": "yes_no", "positive": "yes"})
