"""Run configuration: YAML validated by pydantic, with one-line errors naming file and field."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)

from judge.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent


class _Cfg(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelSpec(_Cfg):
    """A model reached through litellm, with its own limits."""

    model: str = Field(description="litellm model string: sim/..., openai/..., anthropic/..., "
                                   "hosted_vllm/..., ollama/...")
    name: str | None = Field(None, description="Label used in records and reports.")
    params: dict[str, Any] = Field(default_factory=dict,
                                   description="Sampling params passed to litellm.")
    api_base: str | None = Field(None, description="Base URL for OpenAI-compatible servers.")
    api_key_env: str | None = Field(None, description="Env var holding the key (name only).")
    concurrency: int = Field(16, ge=1, description="Max calls in flight for this model.")
    timeout: float = Field(60.0, gt=0, description="Seconds per call.")
    retries: int = Field(4, ge=0, description="Retries on 429, 5xx, timeouts, connection errors.")
    budget_usd: float | None = Field(None, ge=0, description="Stop scheduling calls past this.")
    input_cost_per_mtok: float | None = Field(
        None, ge=0, description="USD per million prompt tokens; overrides litellm's price map "
                                "(for models it has no price for, e.g. behind api_base).")
    output_cost_per_mtok: float | None = Field(
        None, ge=0, description="USD per million completion tokens (set with "
                                "input_cost_per_mtok).")

    @property
    def label(self) -> str:
        return self.name or self.model

    @property
    def provider(self) -> str:
        return self.model.split("/", 1)[0] if "/" in self.model else "openai"

    @field_validator("model")
    @classmethod
    def _has_provider(cls, v: str) -> str:
        if not v.strip():
            raise ValueError("model string is empty")
        return v

    @model_validator(mode="after")
    def _both_prices(self) -> ModelSpec:
        if (self.input_cost_per_mtok is None) != (self.output_cost_per_mtok is None):
            raise ValueError("set both input_cost_per_mtok and output_cost_per_mtok, or neither")
        return self


class GeneratorSpec(ModelSpec):
    samples: int = Field(1, ge=1, description="Samples per query.")


class JudgeSpec(ModelSpec):
    repeats: int = Field(1, ge=1, description="Independent repeats (bypass the cache).")
    repair_attempts: int = Field(2, ge=0, description="Re-asks after invalid output.")
    structured_output: Literal["auto", "json_schema", "json_object", "none"] = "auto"


class DesignSpec(_Cfg):
    kind: Literal["counterfactual", "full_factorial", "single_swap", "intersectional",
                  "sampled"] = "counterfactual"
    max_cells: int | None = Field(None, ge=1, description="sampled: attribute cells per group.")
    budget_queries: int | None = Field(None, ge=1, description="sampled: total query budget.")
    order: int | None = Field(None, ge=1, description="intersectional: axes swapped jointly "
                                                      "per group (default 2).")


class UseCaseSpec(_Cfg):
    """A use case for LLM-written queries: what the user wants, in a given context."""

    id: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    version: str = "1"
    context: str = Field(description="hiring, lending, housing, medical, email, general, "
                                     "customer_support, recommendation")
    task: str = Field(min_length=1, description="What the user asks for, with its details; "
                                                "the writer turns it into a message.")
    ground_truth: dict[str, Any] = Field(default_factory=dict)

    @field_validator("version", mode="before")
    @classmethod
    def _str_version(cls, v: Any) -> Any:
        return str(v) if isinstance(v, (int, float)) else v


class LLMQueriesConfig(_Cfg):
    """Queries written by a simulator model from a persona plus a use case, then validated."""

    writer: ModelSpec = Field(description="The simulator model that writes user queries.")
    validator: JudgeSpec = Field(description="The model that checks each written query "
                                             "(its repair_attempts and structured_output "
                                             "apply; repeats does not).")
    rubric: str = Field("query_validity", description="Validator rubric, id or id@version.")
    use_cases: list[UseCaseSpec] = Field(min_length=1)
    axes: dict[str, list[str]] = Field(min_length=1, description="Persona axes and levels.")
    mode: Literal["counterfactual", "independent"] = Field(
        "counterfactual", description="counterfactual: write one seed per group, rewrite it to "
                                      "every other persona; independent: write each query.")
    n_per_cell: int = Field(1, ge=1, description="Queries per use case and persona cell.")
    max_regenerations: int = Field(2, ge=0, description="Re-writes of an invalid query "
                                                       "before it (and its group) is dropped.")
    expression: list[Literal["explicit", "name"]] = Field(
        default_factory=lambda: ["explicit", "name"], min_length=1,
        description="How the persona is to be expressed, rotated over groups.")


class QueriesConfig(_Cfg):
    """Where queries come from: scenario YAML files and/or an imported JSONL of queries."""

    scenarios: list[str] = Field(default_factory=list, description="Scenario files or globs.")
    path: str | None = Field(None, description="A queries JSONL (e.g. from `judge datasets "
                                               "import`).")
    design: DesignSpec = Field(default_factory=DesignSpec)
    limit: int | None = Field(None, ge=1, description="Keep only the first N counterfactual "
                                                      "groups.")
    axes: list[str] | None = Field(None, description="Restrict to these sensitive axes.")
    llm_written: LLMQueriesConfig | None = Field(
        None, description="Queries written and validated by models (see datasets/README.md).")


class SimHumansConfig(_Cfg):
    raters: int = Field(3, ge=1)
    items: int = Field(300, ge=1, description="Generations to label (stratified by group).")
    criteria: list[str] | None = None


class HumanLabelsConfig(_Cfg):
    path: str | None = Field(None, description="JSONL or CSV of human labels.")
    simulate: SimHumansConfig | None = Field(None, description="Write labels from sim raters.")


class CacheConfig(_Cfg):
    enabled: bool = True
    dir: str = ".cache/llm"


class ReportConfig(_Cfg):
    bootstrap: int = Field(1000, ge=100)
    min_cell: int = Field(30, ge=1)
    alpha: float = Field(0.05, gt=0, lt=1)
    reference: dict[str, str] = Field(default_factory=dict,
                                      description="Reference level per attribute.")
    multiplicity: Literal["bh", "holm", "none"] = Field(
        "bh", description="Correction over ONE family: every disparity and judge-bias test "
                          "of the run (all generators, judges, attributes and metrics): "
                          "Benjamini-Hochberg (bh), Holm, or none.")


class ExecutorConfig(_Cfg):
    """Where model-calling stages run: in-process (local), in worker processes on this
    machine (processes), as shard tasks on Ray (ray), or chosen per run (auto)."""

    kind: Literal["auto", "local", "processes", "ray"] = Field(
        "auto", description="auto: local for in-process (sim) models and small runs, "
                            "processes with overlap for large runs against endpoints.")
    workers: int | None = Field(None, ge=1, description="Worker processes for kind=processes "
                                                        "(default: twice the CPUs, at most 16).")
    overlap: bool | None = Field(
        None, description="When generate and score run together, judge each answer with the "
                          "pointwise rubrics as soon as it arrives (local and processes "
                          "executors). Same records; no idle gap between the stages. "
                          "Default: on when auto chooses processes.")
    address: str | None = Field(None, description="Ray address: None starts a local cluster, "
                                                  "'auto' joins the one on this node.")
    shards: int = Field(4, ge=1, description="Shards per stage (stable hash of the record id).")
    parallel: int | None = Field(None, ge=1, description="Max shard tasks in flight "
                                                         "(default: cluster CPUs / task_cpus).")
    task_cpus: float = Field(1.0, gt=0, description="CPUs Ray reserves per shard task.")
    max_retries: int = Field(2, ge=0, description="Ray retries of a failed shard task.")
    model_concurrency: dict[str, int] = Field(
        default_factory=dict, description="Cluster-wide cap on calls in flight, per model "
                                          "label; split evenly over the shard tasks in flight.")

    @field_validator("model_concurrency")
    @classmethod
    def _positive_caps(cls, v: dict[str, int]) -> dict[str, int]:
        bad = {k: n for k, n in v.items() if n < 1}
        if bad:
            raise ValueError(f"caps must be >= 1 (got {bad})")
        return v


class RunConfig(_Cfg):
    """A whole run: queries × generators × judges × rubrics, then calibration and report."""

    name: str = Field(pattern=r"^[A-Za-z0-9_.-]+$")
    output_dir: str = "runs"
    seed: int = 0
    queries: QueriesConfig
    generators: list[GeneratorSpec] = Field(min_length=1)
    judges: list[JudgeSpec] = Field(default_factory=list)
    rubrics: list[str] = Field(default_factory=list, description="id or id@version.")
    probes: list[str] = Field(default_factory=list,
                              description="attribute_swap, position_swap, verbosity.")
    human_labels: HumanLabelsConfig | None = None
    plugins: dict[str, dict[str, Any]] = Field(
        default_factory=dict, description="Options per plugin, e.g. {sim: {profile: "
                                          "datasets/sim/default.yaml}} (the planted truth of "
                                          "sim/ models).")
    budget_usd: float | None = Field(None, ge=0, description="Whole-run budget cap.")
    cache: CacheConfig = Field(default_factory=CacheConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    executor: ExecutorConfig = Field(default_factory=ExecutorConfig)
    flush_every: int = Field(64, ge=1, description="Records per JSONL flush.")

    # Set by load_config, not by users.
    source_path: str | None = Field(None, exclude=True)

    @property
    def run_dir(self) -> Path:
        """``<output_dir>/<name>``; a relative output_dir is relative to the working dir."""
        out = Path(self.output_dir)
        return (out if out.is_absolute() else Path.cwd() / out) / self.name

    def all_models(self) -> list[ModelSpec]:
        llm = self.queries.llm_written
        return [*self.generators, *self.judges, *([llm.writer, llm.validator] if llm else [])]


def resolve_path(p: str | Path, base: Path | None = None) -> Path:
    """Resolve a relative path against the working directory, then the project root."""
    path = Path(p)
    if path.is_absolute():
        return path
    for root in (base, Path.cwd(), PROJECT_ROOT):
        if root is not None and (root / path).exists():
            return root / path
    return Path.cwd() / path


def _field_path(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def yaml_line_of(text: str, loc: tuple[Any, ...]) -> int | None:
    """Best-effort 1-based line of a field path in YAML text (via the composed node tree)."""
    try:
        node = yaml.compose(text)
    except yaml.YAMLError:
        return None
    line = None
    for part in loc:
        if node is None:
            break
        if isinstance(node, yaml.MappingNode):
            nxt = None
            for k, v in node.value:
                if k.value == str(part):
                    line, nxt = k.start_mark.line + 1, v
                    break
            node = nxt
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


def load_yaml(path: Path) -> tuple[Any, str]:
    """Read and parse a YAML file, turning every failure into a one-line ConfigError."""
    if not path.exists():
        raise ConfigError("file not found", path=path, hint="check the path")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", path=path,
                          hint="save the file as UTF-8") from err
    try:
        return yaml.safe_load(text), text
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"invalid YAML: {problem}", path=path,
                          line=mark.line + 1 if mark else None,
                          col=mark.column + 1 if mark else None) from err


def validation_error(err: ValidationError, path: Path, text: str | None) -> ConfigError:
    """The first pydantic error as a one-line ConfigError naming file, line and field."""
    e = err.errors()[0]
    loc = tuple(e["loc"])
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
    elif "input" in e and e["type"] not in ("missing",):
        msg = f"{msg} (got {e['input']!r})"[:300]
    more = len(err.errors()) - 1
    if more:
        msg += f"; and {more} more error(s)"
    line = yaml_line_of(text, loc) if text else None
    return ConfigError(msg, path=path, line=line, field=_field_path(loc))


def load_config(path: str | Path, overrides: dict[str, Any] | None = None) -> RunConfig:
    """Load and validate a run config. Raises ConfigError (exit code 2) on any problem."""
    p = Path(path)
    data, text = load_yaml(p)
    if not isinstance(data, dict):
        raise ConfigError("a run config must be a YAML mapping", path=p)
    if overrides:
        data = {**data, **overrides}
    try:
        cfg = RunConfig.model_validate(data)
    except ValidationError as err:
        raise validation_error(err, p, text) from err
    cfg.source_path = str(p)
    return cfg
