from collections.abc import Callable
from pathlib import Path

import pytest

DATA = Path(__file__).parents[2] / ".." / "shared" / "data"


@pytest.fixture
def upstream() -> Callable[[str], Path]:
    """Path to a file of the shared upstream data copies; skips the test when absent."""
    def get(rel: str) -> Path:
        p = DATA / rel
        if not p.exists():
            pytest.skip(f"upstream data not present: {p}")
        return p
    return get
