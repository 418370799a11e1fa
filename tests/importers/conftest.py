from pathlib import Path

import pytest

DATA = Path(__file__).parents[2] / ".." / "shared" / "data"


def upstream(rel: str) -> Path:
    """A file or folder of the shared upstream data copies; skip the test when absent."""
    p = DATA / rel
    if not p.exists():
        pytest.skip(f"upstream data not present: {p}")
    return p
