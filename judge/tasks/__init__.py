"""The task model and the one driver of the model-calling stages (see docs/ARCHITECTURE.md)."""

from judge.tasks._model import (
    OUTPUT_OF,
    Progress,
    Reader,
    Sink,
    StageInput,
    StageResult,
    StageTasks,
    Task,
    run_pool,
)
from judge.tasks.driver import (
    MODEL_STAGES,
    Executor,
    InlineJudge,
    LocalExecutor,
    done_ids,
    drive,
    inline_judge,
    pending,
    run_tasks,
    stage_tasks,
    store_reader,
)
from judge.tasks.generate import GenerateTasks, generation_params
from judge.tasks.judging import PROBES, JudgeTask, judge_params
from judge.tasks.score import ScoreTasks, judge_task

__all__ = [
    "MODEL_STAGES", "OUTPUT_OF", "PROBES", "Executor", "GenerateTasks", "InlineJudge",
    "JudgeTask", "LocalExecutor", "Progress", "Reader", "ScoreTasks", "Sink", "StageInput",
    "StageResult", "StageTasks", "Task", "done_ids", "drive", "generation_params",
    "inline_judge", "judge_params", "judge_task", "pending", "run_pool", "run_tasks",
    "stage_tasks", "store_reader",
]
