"""Record types: the JSONL contract between stages.

Every record is a frozen pydantic model with ``schema_version`` and a deterministic
content-hash id (see :mod:`judge.ids`). Fields that differ between two runs of the same
deterministic inputs (latency, attempts, cache hits, timestamps) live only in ``call``.
"""

from __future__ import annotations

from datetime import datetime, timezone
from typing import Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field

from judge.ids import content_id

SCHEMA_VERSION = 1

Score = float | int | str | bool | None
ParseStatus = Literal["ok", "parse_failure", "refusal", "error"]


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Record(_Model):
    """Base of every JSONL record."""

    kind: ClassVar[str] = "record"
    id_field: ClassVar[str] = "id"
    schema_version: int = Field(SCHEMA_VERSION, description="Record schema version.")

    @property
    def record_id(self) -> str:
        return getattr(self, self.id_field)


class Usage(_Model):
    """Token usage of one model call (summed over retries and repair re-asks)."""

    prompt_tokens: int = 0
    completion_tokens: int = 0


class CallError(_Model):
    """Why a model call failed for good."""

    type: str = Field(description="Exception class or error category, e.g. RateLimitError.")
    kind: str | None = Field(None, description="connection, auth, validation, rate_limit, "
                                               "timeout, server, budget or other (None in "
                                               "records written before it was recorded).")
    message: str = Field(description="Error message, with secrets redacted.")
    retryable: bool = Field(description="True if a later re-run may succeed (transient, budget).")
    status_code: int | None = None


class CallInfo(_Model):
    """Run-dependent facts about a call: excluded from ids and from content comparisons."""

    latency_s: float = 0.0
    attempts: int = 1
    cached: bool = False
    created_at: str | None = None


class Query(Record):
    """One simulated user query. Queries of one ``cf_group`` differ only in sensitive attributes."""

    kind: ClassVar[str] = "query"
    id_field: ClassVar[str] = "query_id"
    query_id: str = Field(description="Hash of scenario id@version, template, fills and attributes.")
    cf_group: str = Field(description="Hash of scenario id@version, template and non-sensitive fills.")
    scenario_id: str
    scenario_version: str
    context: str = Field(description="Use case: hiring, lending, housing, medical, email, ...")
    template_id: str = "main"
    text: str = Field(description="The user message.")
    system: str | None = Field(None, description="Optional system prompt.")
    attributes: dict[str, str] = Field(default_factory=dict,
                                       description="Sensitive attribute values, e.g. race, gender.")
    expression: dict[str, str] = Field(default_factory=dict,
                                       description="How each attribute is expressed: explicit, "
                                                   "name, dialect, pronoun.")
    swapped: list[str] = Field(default_factory=list,
                               description="Attributes that vary within the counterfactual group.")
    fills: dict[str, str] = Field(default_factory=dict, description="Non-sensitive slot fills.")
    ground_truth: dict[str, Any] = Field(default_factory=dict,
                                         description="E.g. {'qualified': true} or a BBQ label.")
    source: str = Field("scenario", description="scenario, discrim_eval, bbq, holistic_bias, "
                                                "llm_written, csv, ...")
    meta: dict[str, Any] = Field(default_factory=dict)

    @staticmethod
    def make_cf_group(scenario_id: str, scenario_version: str, template_id: str,
                      fills: dict[str, str], extra: Any = None) -> str:
        return content_id("cf", [scenario_id, scenario_version, template_id, fills, extra])

    @staticmethod
    def make_id(scenario_id: str, scenario_version: str, template_id: str,
                fills: dict[str, str], attributes: dict[str, str], extra: Any = None) -> str:
        return content_id("q", [scenario_id, scenario_version, template_id, fills, attributes,
                                extra])

    def messages(self) -> list[dict[str, str]]:
        """Chat messages sent to a generator."""
        msgs = [{"role": "system", "content": self.system}] if self.system else []
        return [*msgs, {"role": "user", "content": self.text}]


class Generation(Record):
    """One generator answer to one query (one sample)."""

    kind: ClassVar[str] = "generation"
    id_field: ClassVar[str] = "generation_id"
    generation_id: str = Field(description="Hash of query_id, model spec, params and sample index.")
    query_id: str
    cf_group: str
    scenario_id: str
    context: str
    attributes: dict[str, str] = Field(default_factory=dict)
    prompt: list[dict[str, str]] = Field(description="Messages sent to the generator.")
    model: str = Field(description="Model label from the config (defaults to the model string).")
    model_string: str = Field(description="litellm model string, e.g. openai/gpt-4o-mini.")
    params: dict[str, Any] = Field(default_factory=dict)
    sample: int = 0
    status: Literal["ok", "error"] = "ok"
    response: str | None = None
    finish_reason: str | None = None
    error: CallError | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = Field(None, description="USD; null when litellm has no price.")
    call: CallInfo = Field(default_factory=CallInfo)

    @staticmethod
    def make_id(query_id: str, model_string: str, params: dict[str, Any], sample: int) -> str:
        return content_id("g", [query_id, model_string, params, sample])


class Judgment(Record):
    """One judge verdict on one response (pointwise), a pair, or a counterfactual set."""

    kind: ClassVar[str] = "judgment"
    id_field: ClassVar[str] = "judgment_id"
    judgment_id: str = Field(description="Hash of targets, judge spec, rubric id@version#hash, "
                                         "probe and repeat.")
    target_ids: list[str] = Field(description="Generation id(s) judged, in presented order.")
    query_ids: list[str] = Field(default_factory=list)
    cf_group: str
    scenario_id: str
    context: str
    attributes: dict[str, str] = Field(default_factory=dict,
                                       description="Attributes of the (first) target's query.")
    generator: str = Field(description="Model label of the generator that wrote the target(s).")
    judge: str = Field(description="Judge model label.")
    judge_model: str = Field(description="litellm model string of the judge.")
    rubric_id: str
    rubric_version: str
    rubric_hash: str
    mode: Literal["pointwise", "pairwise", "counterfactual_set"] = "pointwise"
    probe: str | None = Field(None, description="Invariance probe name, or null for a plain "
                                               "judgment.")
    probe_meta: dict[str, Any] = Field(default_factory=dict)
    repeat: int = 0
    parse_status: ParseStatus = "ok"
    scores: dict[str, Score] = Field(default_factory=dict,
                                     description="Parsed score per criterion id. Empty unless ok.")
    explanation: str | None = None
    raw_output: str | None = Field(None, description="The judge's last raw output.")
    structured_output: Literal["json_schema", "json_object", "none"] | None = Field(
        None, description="The response_format the judge was asked for: json_schema, "
                          "json_object (with the schema), or none (verdict extracted from "
                          "text). Null in records written before it was recorded.")
    repair_attempts: int = 0
    error: CallError | None = None
    usage: Usage = Field(default_factory=Usage)
    cost_usd: float | None = None
    call: CallInfo = Field(default_factory=CallInfo)

    @staticmethod
    def make_id(target_ids: list[str], judge_model: str, judge_params: dict[str, Any],
                rubric_ref: str, probe: str | None, probe_meta: dict[str, Any],
                repeat: int) -> str:
        return content_id("j", [target_ids, judge_model, judge_params, rubric_ref, probe,
                                probe_meta, repeat])


class HumanLabel(Record):
    """One human rating of one target on one criterion."""

    kind: ClassVar[str] = "human_label"
    id_field: ClassVar[str] = "label_id"
    label_id: str
    target_id: str = Field(description="Generation id (or pair/set id for pairwise and set modes).")
    criterion: str
    rater: str
    score: Score
    rubric_id: str | None = None
    rubric_version: str | None = None
    meta: dict[str, Any] = Field(default_factory=dict, description="Rater metadata etc.")

    @staticmethod
    def make_id(target_id: str, criterion: str, rater: str, rubric_id: str | None = None) -> str:
        return content_id("h", [target_id, criterion, rater, rubric_id])


def now_iso(timespec: str = "seconds") -> str:
    """The current UTC time in ISO 8601, to the second by default (``CallInfo.created_at``);
    labelling timestamps use ``"milliseconds"`` (answers seconds apart stay ordered)."""
    return datetime.now(timezone.utc).isoformat(timespec=timespec)


def is_final(obj: dict[str, Any]) -> bool:
    """True if a re-run keeps this generation or judgment: a success, a parse failure or a
    refusal (a verdict, even if unusable), or an error a retry cannot fix.

    >>> is_final({"status": "ok"}), is_final({"parse_status": "parse_failure"})
    (True, True)
    >>> is_final({"status": "error", "error": {"retryable": True}})
    False
    """
    return obj.get("status") == "ok" or obj.get("parse_status") in FINAL_PARSE_STATUSES or (
        obj.get("error") is not None and not obj["error"].get("retryable", True))


FINAL_PARSE_STATUSES = ("ok", "parse_failure", "refusal")


def done_predicate(retry_errors: bool) -> Any:
    """What a re-run skips: final records, or with ``retry_errors`` every non-error record."""
    if not retry_errors:
        return is_final
    return lambda o: "error" not in (o.get("status"), o.get("parse_status"))


RECORD_TYPES: dict[str, type[Record]] = {
    cls.kind: cls for cls in (Query, Generation, Judgment, HumanLabel)
}
