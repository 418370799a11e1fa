"""Run configuration: YAML validated by pydantic, with one-line errors naming file and field."""

from __future__ import annotations

import os
import re
import reprlib
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit, urlunsplit

import yaml
from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    ValidationError,
    field_validator,
    model_validator,
)
from pydantic_core import PydanticCustomError

from judge.errors import ConfigError

PROJECT_ROOT = Path(__file__).resolve().parent.parent

#: Most YAML nodes a config or rubric may expand to once aliases are followed: a 351-byte
#: "billion laughs" file expands to ~10^9 nodes; no real config comes near this.
MAX_YAML_NODES = 200_000
#: Largest config or rubric file read, in bytes.
MAX_YAML_BYTES = 5_000_000
#: Report caps (a typo like ``bootstrap: 1000000000`` is a one-line error, not a MemoryError).
MAX_BOOTSTRAP = 100_000
MAX_SAMPLE_ITEMS = 1_000_000

# A ``params`` key (at any depth) that carries a credential: refused, keys come from env vars.
_SECRET_KEY_RX = re.compile(
    r"(?i)^(api[_-]?key|key|.*[_-](key|secret|token)|.*secret.*|.*passw(or)?d.*|"
    r".*credential.*|authorization|x-api-key|bearer|token|auth)$")
_NOT_SECRET = frozenset({"max_tokens", "max_completion_tokens", "max_new_tokens",
                         "num_tokens", "stop_token", "stop_tokens", "top_k"})
# A value that looks like a credential wherever it appears (OpenAI, Anthropic, GitHub,
# Hugging Face, Google, AWS access key id, a JWT).
SECRET_VALUE_RX = re.compile(
    r"(sk-[A-Za-z0-9_\-]{6,}|gh[pousr]_[A-Za-z0-9]{16,}|hf_[A-Za-z0-9]{16,}|"
    r"AIza[A-Za-z0-9_\-]{20,}|AKIA[A-Z0-9]{12,}|eyJ[A-Za-z0-9_\-]{10,}\.[A-Za-z0-9_\-]{10,})")
_ENV_NAME_RX = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,127}$")


def _secret_error(where: str) -> PydanticCustomError:
    """A refusal that never echoes the value (see :func:`validation_error`)."""
    return PydanticCustomError(
        "secret_value", "{where}: credentials must not be written in a config (they would be "
        "stored in the manifest and in every record); put the key in an environment variable "
        "and name it with api_key_env", {"where": where})


def secret_param_path(params: Any, prefix: str = "params") -> str | None:
    """The path of the first credential-like key or value in ``params``, or None.

    >>> secret_param_path({"temperature": 0, "max_tokens": 5})
    >>> secret_param_path({"extra_headers": {"Authorization": "Bearer x"}})
    'params.extra_headers.Authorization'
    """
    if isinstance(params, dict):
        for k, v in params.items():
            name = str(k)
            if name.lower() not in _NOT_SECRET and _SECRET_KEY_RX.match(name):
                return f"{prefix}.{name}"
            found = secret_param_path(v, f"{prefix}.{name}")
            if found:
                return found
    elif isinstance(params, (list, tuple)):
        for i, v in enumerate(params):
            found = secret_param_path(v, f"{prefix}[{i}]")
            if found:
                return found
    elif isinstance(params, str) and (SECRET_VALUE_RX.search(params) or (
            "://" in params and url_has_credentials(params))):
        return prefix
    return None


def url_has_credentials(url: str) -> bool:
    """True if a URL carries userinfo (``user:secret@host``) or a key-like query parameter.

    >>> url_has_credentials("http://user:pw@localhost:8000/v1"), url_has_credentials("http://h/v1")
    (True, False)
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return False
    if "@" in parts.netloc:
        return True
    return any(_SECRET_KEY_RX.match(kv.split("=", 1)[0]) for kv in parts.query.split("&") if kv)


def looks_like_key(name: str) -> bool:
    """True for a string that is more likely a pasted key than an environment variable name:
    long, with lower-case letters and digits and no ``_`` (names are UPPER_SNAKE by habit).

    >>> looks_like_key("OPENAI_API_KEY"), looks_like_key("a8Fk29dkQm3LxP0qZ7vT")
    (False, True)
    """
    return bool(SECRET_VALUE_RX.search(name)) or (
        len(name) >= 16 and "_" not in name and any(c.isdigit() for c in name)
        and any(c.islower() for c in name))


# ---- secrets the run reads: their values are redacted from everything written or shown
#: env var names that hold a provider key even though nothing in the config names them
PROVIDER_KEY_ENVS = ("OPENAI_API_KEY", "ANTHROPIC_API_KEY", "GEMINI_API_KEY", "MISTRAL_API_KEY",
                     "GROQ_API_KEY", "TOGETHERAI_API_KEY", "COHERE_API_KEY", "AZURE_API_KEY",
                     "HF_TOKEN", "HUGGINGFACE_API_KEY", "OPENROUTER_API_KEY", "XAI_API_KEY",
                     "DEEPSEEK_API_KEY", "FIREWORKS_API_KEY", "PERPLEXITYAI_API_KEY")
_SECRET_NAME_RX = re.compile(r"(KEY|TOKEN|SECRET|PASSW|CREDENTIAL|AUTH)", re.I)
_SECRET_ENVS: set[str] = set()
_USERINFO_RX = re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@]+@")
_BEARER_RX = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]{6,}")
_MIN_SECRET_LEN = 4


def register_secret_env(name: str | None) -> None:
    """Redact the value of environment variable ``name`` from now on, whatever its name
    (every ``api_key_env`` of a run is registered before any call)."""
    if name:
        _SECRET_ENVS.add(name)


def secret_values() -> list[tuple[str, str]]:
    """``(name, value)`` of every secret this process may hold, longest value first: each
    registered variable, each provider key variable, each variable whose name says KEY,
    TOKEN, SECRET, PASSWORD, CREDENTIAL or AUTH."""
    out = {(n, os.environ[n]) for n in _SECRET_ENVS
           if len(os.environ.get(n) or "") >= _MIN_SECRET_LEN}
    # Variables found by name alone: only values long enough to be keys (a flag such as
    # USE_AUTH=true must not turn every "true" into <USE_AUTH>).
    out |= {(n, v) for n, v in os.environ.items()
            if (n in PROVIDER_KEY_ENVS or _SECRET_NAME_RX.search(n)) and len(v) >= 8
            and not v.startswith(("/", "."))}
    return sorted(out, key=lambda nv: (-len(nv[1]), nv[0]))


def redact(text: str, secrets: list[tuple[str, str]] | None = None) -> str:
    """``text`` with every secret value replaced by ``<VAR_NAME>``, URL userinfo, bearer
    tokens and key-shaped strings removed.

    >>> redact("GET http://bob:hunter2@host/v1 with Authorization: Bearer abcdef123456")
    'GET http://<redacted>@host/v1 with Authorization: Bearer <redacted>'
    """
    if not text:
        return text
    for name, val in (secret_values() if secrets is None else secrets):
        if val in text:
            text = text.replace(val, f"<{name}>")
    text = _USERINFO_RX.sub(r"\1<redacted>@", text)
    text = _BEARER_RX.sub(lambda m: f"{m.group(1)} <redacted>", text)
    return SECRET_VALUE_RX.sub("<redacted>", text)


def redact_values(text: str) -> str:
    """Only the registered secret values (cheap, exact; for model output on the hot path)."""
    if not text or not _SECRET_ENVS:
        return text

    for name in _SECRET_ENVS:
        val = os.environ.get(name) or ""
        if len(val) >= _MIN_SECRET_LEN and val in text:
            text = text.replace(val, f"<{name}>")
    return text


def redact_obj(obj: Any, secrets: list[tuple[str, str]] | None = None) -> Any:
    """``obj`` (JSON-like) with :func:`redact` applied to every string (for manifests and
    other provenance): URL userinfo and secret values never reach the disk."""
    secrets = secret_values() if secrets is None else secrets
    if isinstance(obj, str):
        return redact(obj, secrets)
    if isinstance(obj, dict):
        return {k: redact_obj(v, secrets) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return [redact_obj(v, secrets) for v in obj]
    return obj


def strip_userinfo(url: str) -> str:
    """A URL without its ``user:password@`` part (for anything recorded).

    >>> strip_userinfo("https://u:secret@example.com:8443/v1?x=1")
    'https://example.com:8443/v1?x=1'
    """
    try:
        parts = urlsplit(url)
    except ValueError:
        return url
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rsplit("@", 1)[1]))


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

    @field_validator("params")
    @classmethod
    def _no_secret_params(cls, v: dict[str, Any]) -> dict[str, Any]:
        where = secret_param_path(v)
        if where:
            raise _secret_error(where)
        return v

    @field_validator("api_base")
    @classmethod
    def _no_url_credentials(cls, v: str | None) -> str | None:
        if v is not None and url_has_credentials(v):
            raise _secret_error("api_base has credentials in the URL")
        return v

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, v: str | None) -> str | None:
        if v is not None and (not _ENV_NAME_RX.match(v) or looks_like_key(v)):
            raise PydanticCustomError(
                "secret_value", "api_key_env must be the NAME of an environment variable "
                "(letters, digits, _), not the key itself; export the key as e.g. "
                "MY_API_KEY and write api_key_env: MY_API_KEY")
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
    raters: int = Field(3, ge=1, le=1000)
    items: int = Field(300, ge=1, le=MAX_SAMPLE_ITEMS,
                       description="Generations to label (stratified by group).")
    criteria: list[str] | None = None


class HumanLabelsConfig(_Cfg):
    path: str | None = Field(None, description="JSONL or CSV of human labels.")
    simulate: SimHumansConfig | None = Field(None, description="Write labels from sim raters.")


class CacheConfig(_Cfg):
    enabled: bool = True
    dir: str = ".cache/llm"


#: The conventional reference level per attribute, used where ``report.reference`` names
#: none and the data has it (the full rule: :func:`judge.stats.reference.choose_reference`).
#: Here, in the leaf config module, so the task code that orders counterfactual sets needs
#: no statistics (pandas) import.
CONVENTIONAL_REFERENCE: dict[str, str] = {"race": "White", "gender": "male", "dialect": "SAE",
                                          "religion": "Christian", "disability": "none"}


class ReportConfig(_Cfg):
    bootstrap: int = Field(1000, ge=100, le=MAX_BOOTSTRAP)
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
    max_error_share: float = Field(
        1.0, ge=0, le=1, description="A stage whose share of failed calls exceeds this fails "
                                     "the run (exit 3, manifest status: failed); 1.0 (the "
                                     "default): only when every call failed.")

    # Set by load_config, not by users.
    source_path: str | None = Field(None, exclude=True)

    @field_validator("name")
    @classmethod
    def _name_stays_inside(cls, v: str) -> str:
        if v.strip(".") == "":
            raise ValueError("name must not be '.' or '..': the run would leave output_dir")
        return v

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


class YamlTooLarge(yaml.MarkedYAMLError):
    """A YAML document that expands (through aliases) past :data:`MAX_YAML_NODES`."""


def check_expansion(node: yaml.Node | None, limit: int = MAX_YAML_NODES) -> None:
    """Raise :class:`YamlTooLarge` if the node graph, with every alias expanded, has more than
    ``limit`` nodes, or an alias refers to a node that contains it (recursive anchor).

    Counts with memoisation over the composed graph, so a "billion laughs" file is refused
    in microseconds, before anything walks the expanded data.
    """
    sizes: dict[int, int] = {}
    active: set[int] = set()

    def size(n: yaml.Node) -> int:
        key = id(n)
        if key in sizes:
            return sizes[key]
        if key in active:
            raise YamlTooLarge(problem="recursive alias (an anchor used inside itself)",
                               problem_mark=n.start_mark)
        active.add(key)
        total = 1
        if isinstance(n, yaml.MappingNode):
            for k, v in n.value:
                total += size(k) + size(v)
                if total > limit:
                    break
        elif isinstance(n, yaml.SequenceNode):
            for v in n.value:
                total += size(v)
                if total > limit:
                    break
        active.discard(key)
        if total > limit:
            raise YamlTooLarge(problem=f"expands to more than {limit:,} nodes through aliases "
                                       "(a YAML alias bomb?)", problem_mark=n.start_mark)
        sizes[key] = total
        return total

    if node is not None:
        size(node)


#: libyaml's safe loader when PyYAML was built with it (same results, ~10x faster).
_SAFE_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


def safe_load_limited(text: str) -> Any:
    """``yaml.safe_load`` that refuses alias bombs and recursive anchors
    (:func:`check_expansion`) between composing and constructing, parsing once; every
    failure is a ``yaml.YAMLError``."""
    try:
        loader = _SAFE_LOADER(text)
        try:
            node = loader.get_single_node()
            check_expansion(node)
            return None if node is None else loader.construct_document(node)
        finally:
            loader.dispose()
    except RecursionError as err:
        raise YamlTooLarge(problem="nested too deeply") from err


def load_yaml(path: Path) -> tuple[Any, str]:
    """Read and parse a YAML file, turning every failure into a one-line ConfigError."""
    if not path.exists():
        raise ConfigError("file not found", path=path, hint="check the path")
    if not path.is_file():
        raise ConfigError("not a file (a directory?)", path=path,
                          hint="give the path of a YAML config file")
    if path.stat().st_size > MAX_YAML_BYTES:
        raise ConfigError(f"file is larger than {MAX_YAML_BYTES:,} bytes", path=path,
                          hint="a config holds settings; put data in a queries or labels file")
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as err:
        raise ConfigError(f"not UTF-8 text (byte {err.start})", path=path,
                          hint="save the file as UTF-8") from err
    except OSError as err:
        raise ConfigError(f"cannot read: {err.strerror}", path=path, hint="check the path") from err
    try:
        return safe_load_limited(text), text
    except yaml.YAMLError as err:
        mark = getattr(err, "problem_mark", None)
        problem = getattr(err, "problem", None) or str(err).splitlines()[0]
        raise ConfigError(f"invalid YAML: {problem}", path=path,
                          line=mark.line + 1 if mark else None,
                          col=mark.column + 1 if mark else None) from err


def validation_error(err: ValidationError, path: Path, text: str | None) -> ConfigError:
    """The first pydantic error as a one-line ConfigError naming file, line and field."""
    errors = err.errors(include_url=False, include_context=False, include_input=False)
    # An unknown key first: a misspelt top-level key (``generator:``) also makes a required
    # one missing, and the misspelling is what the user must see.
    e = next((x for x in errors if x["type"] == "extra_forbidden"), errors[0])
    loc = tuple(e["loc"])
    msg = e["msg"]
    if e["type"] == "extra_forbidden":
        msg = "unknown key"
    elif e["type"] not in ("missing", "secret_value"):
        bad = _input_at(err, e)
        if bad is not _NO_INPUT:
            msg = f"{msg} (got {_short_repr(bad)})"
    more = len(errors) - 1
    if more:
        msg += f"; and {more} more error(s)"
    line = yaml_line_of(text, loc) if text else None
    return ConfigError(msg, path=path, line=line, field=_field_path(loc))


_NO_INPUT = object()
_REPR = reprlib.Repr()
_REPR.maxstring, _REPR.maxother, _REPR.maxlist, _REPR.maxdict, _REPR.maxlevel = 60, 60, 4, 4, 2


def _short_repr(value: Any) -> str:
    """A bounded repr: never builds the repr of a huge input (reprlib truncates as it goes).

    >>> _short_repr(["x"] * 10**6)
    "['x', 'x', 'x', 'x', ...]"
    """
    return _REPR.repr(value)


def _input_at(err: ValidationError, e: dict[str, Any]) -> Any:
    """The offending input of error ``e``, without pydantic building its repr."""
    for full in err.errors(include_url=False, include_context=False):
        if full["loc"] == e["loc"] and full["type"] == e["type"]:
            return full.get("input", _NO_INPUT)
    return _NO_INPUT


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
