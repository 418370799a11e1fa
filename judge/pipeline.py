"""Run orchestration: stages in order, provenance in the manifest, resumable by design."""

from __future__ import annotations

import glob
import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import Any

from judge.config import (
    PROJECT_ROOT,
    RunConfig,
    redact,
    register_secret_env,
    resolve_path,
    strip_userinfo,
)
from judge.context import RunContext
from judge.errors import ConfigError, JudgeError, StoreError, UsageError
from judge.executors import check_executor, choose_executor, connect_executor
from judge.llm.client import ModelStats, check_credentials
from judge.plugins import check_config
from judge.querygen import REJECTIONS_FILE
from judge.rubrics import load_rubrics
from judge.stages import generate, score
from judge.store import RunStore, iter_jsonl, summarize_records
from judge.tasks.judging import PROBES

STAGES = ("generate", "score", "calibrate", "report")


def _version(pkg: str) -> str | None:
    try:
        return metadata.version(pkg)
    except metadata.PackageNotFoundError:
        return None


def git_info() -> dict[str, Any]:
    """Commit and dirty flag of the project checkout, if it is a git repository."""
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=PROJECT_ROOT, text=True,
                                capture_output=True, timeout=5).stdout.strip() or None
        dirty = bool(subprocess.run(["git", "status", "--porcelain"], cwd=PROJECT_ROOT,
                                    text=True, capture_output=True, timeout=5).stdout.strip())
        return {"commit": commit, "dirty": dirty}
    except (OSError, subprocess.SubprocessError):
        return {"commit": None, "dirty": None}


def env_vars_used(cfg: RunConfig) -> list[str]:
    """Names (never values) of the environment variables holding credentials."""
    names = {s.api_key_env for s in cfg.all_models() if s.api_key_env}
    for s in cfg.all_models():
        if s.provider in ("openai", "anthropic", "gemini", "mistral", "groq", "together_ai",
                          "cohere") and not s.api_key_env and not s.api_base:
            names.add(f"{s.provider.upper()}_API_KEY" if s.provider != "together_ai"
                      else "TOGETHERAI_API_KEY")
    return sorted(n for n in names if n in os.environ)


def _strip_urls(obj: Any) -> Any:
    """Every ``scheme://user:pw@host`` string of a config dump without its userinfo."""
    if isinstance(obj, str):
        return strip_userinfo(obj) if "://" in obj else obj
    if isinstance(obj, dict):
        return {k: _strip_urls(v) for k, v in obj.items()}
    if isinstance(obj, list):
        return [_strip_urls(v) for v in obj]
    return obj


def provenance(cfg: RunConfig) -> dict[str, Any]:
    """What the manifest records about a run: no secret (URL userinfo stripped, secret
    values redacted by :meth:`judge.store.RunStore.update_manifest`)."""
    return {
        "name": cfg.name,
        "config": _strip_urls(cfg.model_dump(mode="json")),
        "config_path": cfg.source_path,
        "versions": {"judge": _version("judge"), "python": sys.version.split()[0],
                     "litellm": _version("litellm"), "pydantic": _version("pydantic"),
                     "platform": platform.platform()},
        "git": git_info(),
        "generators": [g.label for g in cfg.generators],
        "judges": [j.label for j in cfg.judges],
        "env_vars_used": env_vars_used(cfg),
    }


def preflight(cfg: RunConfig, check_keys: bool = True) -> None:
    """Everything that can be checked before a run directory is touched.

    Rubrics resolve, probes are known, input files exist, providers are known and API keys
    are set. Each failure is a one-line UsageError (exit code 2).
    """
    src = cfg.source_path
    for spec in cfg.all_models():  # their values are redacted from everything from now on
        register_secret_env(spec.api_key_env)
    out = cfg.run_dir.parent.resolve()
    if cfg.run_dir.resolve().parent != out:
        raise ConfigError("the run directory would leave output_dir", path=src, field="name",
                          hint="use a plain name (letters, digits, _ . -)")
    bad = [p for p in cfg.probes if p not in PROBES]
    if bad:
        raise ConfigError(f"unknown probe {bad[0]!r}", path=src, field="probes",
                          hint=f"choose from {', '.join(PROBES)}")
    for i, pat in enumerate(cfg.queries.scenarios):
        if not glob.glob(str(resolve_path(pat))):
            raise ConfigError(f"no scenario file matches {pat}", path=src,
                              field=f"queries.scenarios[{i}]", hint="check the path or glob")
    if cfg.queries.path and not resolve_path(cfg.queries.path).exists():
        raise ConfigError(f"queries file not found: {cfg.queries.path}", path=src,
                          field="queries.path", hint="run `judge datasets import` first")
    if cfg.human_labels and cfg.human_labels.path and not resolve_path(
            cfg.human_labels.path).exists():
        raise ConfigError(f"human-label file not found: {cfg.human_labels.path}", path=src,
                          field="human_labels.path", hint="check the path")

    check_config(cfg)  # plugin options (e.g. the sim profile) before anything is touched
    if cfg.executor.kind == "ray":
        check_executor(cfg)  # UsageError naming the extra, before the run directory is touched
    try:
        load_rubrics(cfg.rubrics)
    except ConfigError as err:
        if err.path is None:
            err.path = src
        raise
    if check_keys:
        for spec in cfg.all_models():
            check_credentials(spec)


#: Stages that may call a model (``queries``: LLM-written queries); the others never need
#: an API key, so `judge calibrate` and `judge report` work on a finished run without one.
MODEL_STAGES = frozenset({"queries", "generate", "score"})


def needs_keys(stages: list[str]) -> bool:
    """Whether running ``stages`` may call a model (and so needs its API keys).

    >>> needs_keys(["report"]), needs_keys(["calibrate", "report"]), needs_keys(["score"])
    (False, False, True)
    """
    return bool(MODEL_STAGES.intersection(stages))


def open_run(cfg: RunConfig, *, progress: bool = False, retry_errors: bool = False,
             check_keys: bool = True) -> RunContext:
    """Preflight (before any work), open the run directory, record provenance."""
    preflight(cfg, check_keys)
    store = RunStore(cfg.run_dir, lock=True)  # a second process is refused here (exit 2)
    try:
        m = store.manifest()
        repairs = m.get("repairs", []) + [r.as_dict() for r in store.repairs]
        store.update_manifest(**provenance(cfg), repairs=repairs)
    except BaseException:
        store.unlock()
        raise
    return RunContext(cfg, store, progress=progress, retry_errors=retry_errors)


FORCE_FILES = {"queries": "queries", "generate": "generations", "score": "judgments",
               "calibrate": "human_labels", "report": None}


def check_force(force: list[str] | None) -> list[str]:
    """Validate ``--force`` stage names (before anything is written)."""
    for f in force or []:
        if f not in FORCE_FILES:
            raise UsageError(f"--force {f}: not a stage", field="--force",
                             hint=f"choose from {', '.join(FORCE_FILES)}")
    return list(force or [])


def _calibrate(ctx: RunContext) -> Any:
    """The calibrate stage, imported when it runs: it loads pandas and the statistics, which
    generate and score do not need (their worker processes start ~0.3 s sooner)."""
    from judge.stages import calibrate

    return calibrate.calibrate(ctx)


def _report(ctx: RunContext) -> Any:
    """The report stage, imported when it runs (see :func:`_calibrate`)."""
    from judge.stages import report

    return report.report(ctx)


def run_stages(ctx: RunContext, stages: list[str], force: list[str] | None = None
               ) -> dict[str, Any]:
    """Run ``stages`` in order; ``force`` moves a stage's old output aside first.

    The model-calling stages run through the one driver (:func:`judge.tasks.drive`) on the
    executor the config asks for (``executor.kind``; ``auto`` chooses once the queries
    are known, see :func:`judge.executors.choose_executor`).
    """
    force = check_force(force)
    for st in force:
        if FORCE_FILES[st]:
            ctx.store.reset(FORCE_FILES[st])
        if st == "queries":  # LLM-written queries: forget earlier rejections and drops too

            ctx.store.reset(REJECTIONS_FILE)
    results: dict[str, Any] = {}
    wanted = list(stages)
    if "generate" in wanted and "queries" not in wanted:
        wanted.insert(wanted.index("generate"), "queries")
    executor: Any = None

    def model_stage(fn: Any) -> Any:
        def go(c: RunContext) -> Any:
            nonlocal executor
            if executor is None:
                choice = choose_executor(c.cfg, c.store, wanted)
                c.judge_inline = choice.overlap
                executor = connect_executor(c.cfg, choice.kind)
                c.store.update_manifest(cluster={**executor.cluster_info(),
                                                 "chosen": choice.as_dict()})
            return fn(c, executor)
        return go

    fns = {"queries": generate.expand_queries, "generate": model_stage(generate.generate),
           "score": model_stage(score.score), "calibrate": _calibrate, "report": _report}
    t0 = time.perf_counter()
    error = None
    try:
        for st in wanted:
            if st == "report":
                _write_summary(ctx, results, t0)
            r = fns[st](ctx)
            results[st] = r.as_dict()
            if r.stopped:
                break
    except Exception as err:
        error = redact(f"{st}: {err.one_line() if isinstance(err, JudgeError) else err}")
        raise
    finally:
        try:
            _write_summary(ctx, results, t0, error)
            ctx.close()
            if executor is not None:
                executor.shutdown()
        finally:
            ctx.store.unlock()
    failed = failed_stages(results, ctx.cfg.max_error_share)
    if failed:
        raise RunFailed(failed)
    return results


def calls_made(ctx: RunContext, results: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """Per-model call counts of this invocation: this process's clients plus the worker
    processes' or Ray tasks' (reported in each stage's ``extra``)."""
    # every model of the config, 0 when it made no call (the manifest merges dicts: a
    # re-run that calls nothing must still say so)
    total: dict[str, dict[str, Any]] = {s.label: ModelStats().as_dict()
                                        for s in ctx.cfg.all_models()}
    parts = [ctx.model_stats()] + [
        (r.get("extra") or {}).get(ex, {}).get("model_stats") or {}
        for r in results.values() for ex in ("processes", "ray")]
    for part in parts:
        for label, st in part.items():
            agg = total.setdefault(label, {})
            for k, v in st.items():
                agg[k] = agg.get(k, 0) + v
    return total


class RunFailed(StoreError):
    """A stage's share of failed calls passed ``max_error_share``: exit code 3. Every
    record is kept; fix the cause (the errors name it) and re-run with --retry-errors."""

    exit_code = 3

    def __init__(self, failed: dict[str, tuple[int, int]]):
        self.failed = failed
        parts = ", ".join(f"{st} {e} of {n} calls" for st, (e, n) in failed.items())
        super().__init__(f"run failed: {parts} failed", hint="see last errors in manifest.json "
                         "and the report banner; fix the cause, then re-run with --retry-errors")


def failed_stages(results: dict[str, Any], max_share: float) -> dict[str, tuple[int, int]]:
    """Stages whose errors / attempted calls exceed ``max_share`` (1.0: all calls failed).

    >>> failed_stages({"generate": {"planned": 4, "skipped": 0, "errors": 4}}, 1.0)
    {'generate': (4, 4)}
    >>> failed_stages({"generate": {"planned": 4, "skipped": 0, "errors": 3}}, 1.0)
    {}
    """
    out = {}
    for st, r in results.items():
        if st not in ("queries", "generate", "score"):
            continue
        n = max(0, (r.get("planned") or 0) - (r.get("skipped") or 0))
        # parse failures are verdicts the judge gave (data), not failed calls
        errors = (r.get("errors") or 0) - (r.get("parse_failures") or 0)
        if n and errors and (errors / n > max_share or (max_share >= 1.0 and errors >= n)):
            out[st] = (errors, n)
    return out


def _write_summary(ctx: RunContext, results: dict[str, Any], t0: float,
                   error: str | None = None) -> None:
    m = ctx.store.manifest()
    try:
        summary = summarize_records(ctx.store)
    except JudgeError as err:  # an unreadable stage file: record why, keep the rest
        summary = {}
        error = error or err.one_line()
    stats = calls_made(ctx, results)
    failed = failed_stages(results, ctx.cfg.max_error_share)
    stopped = next((r["stopped"] for r in results.values() if r.get("stopped")), None)
    extra = results.get("score", {}).get("extra", {})
    rubrics = extra.get("rubrics") or m.get("rubrics") or {}
    n_errors = sum((summary.get("counts") or {}).get(f"{k}_by_status", {}).get("error", 0)
                   for k in ("generations", "judgments"))
    ctx.store.update_manifest(
        stages=results, rubrics=rubrics, **summary,
        rubric_lock=extra.get("rubric_lock") or m.get("rubric_lock") or {},
        rubrics_resolved=extra.get("rubrics_requested") or m.get("rubrics_resolved") or {},
        budget_usd=ctx.cfg.budget_usd, calls_last_invocation=stats,
        errors=n_errors,
        status=("error" if error else "failed" if failed else "stopped" if stopped else "ok"),
        stopped_reason=stopped, failed_stages={k: {"errors": e, "calls": n}
                                               for k, (e, n) in failed.items()},
        last_error=error, last_call_errors=_last_call_errors(ctx) if n_errors else [],
        timings={"last_invocation_s": round(time.perf_counter() - t0, 3)})


def _last_call_errors(ctx: RunContext, k: int = 3) -> list[dict[str, Any]]:
    """A few distinct error records of this run (kind and message), for the report banner."""
    seen: dict[str, dict[str, Any]] = {}
    for stage in ("generations", "judgments"):
        for _, r in iter_jsonl(ctx.store.path(stage)):
            if len(seen) >= k:
                break
            e = r.get("error")
            if e:
                key = f"{e.get('kind')}:{e.get('message', '')[:80]}"
                seen.setdefault(key, {"stage": stage, "kind": e.get("kind"),
                                      "type": e.get("type"), "message": e.get("message")})
    return list(seen.values())
