"""Stage ``score``: judge models score generations against versioned rubrics.

The tasks (which judgments exist, and how one is made) are :class:`judge.tasks.ScoreTasks`;
this stage runs them through the driver.
"""

from __future__ import annotations

from judge.context import RunContext
from judge.tasks import Executor, ScoreTasks, StageResult, drive


def score(ctx: RunContext, executor: Executor | None = None) -> StageResult:
    """Judge every successful generation with every judge × applicable rubric × repeat."""
    return drive(ctx, ScoreTasks(ctx.cfg), executor)
