"""Reference levels: the level each attribute's groups are compared against.

>>> import pandas as pd
>>> reference_levels(pd.DataFrame({"attr.race": ["Black", "White", None]}), {})
{'race': 'White'}
"""

from __future__ import annotations

import pandas as pd

ATTR_PREFIX = "attr."
DEFAULT_REFERENCE = {"race": "White", "gender": "male", "dialect": "SAE", "age": "30",
                     "religion": "Christian", "disability": "none"}


def reference_levels(df: pd.DataFrame, override: dict[str, str]) -> dict[str, str]:
    """Configured reference per attribute, else a conventional one, else the most common."""
    out = {}
    for c in [c for c in df.columns if c.startswith(ATTR_PREFIX)]:
        a = c[len(ATTR_PREFIX):]
        levels = df[c].dropna().astype(str)
        if levels.empty:
            continue
        for cand in (override.get(a), DEFAULT_REFERENCE.get(a)):
            if cand is not None and cand in set(levels):
                out[a] = cand
                break
        else:
            out[a] = levels.value_counts().index[0]
    return out
