"""Run orchestration: stages in order, provenance in the manifest, resumable by design."""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from collections import Counter
from importlib import metadata
from typing import Any

from judge.config import PROJECT_ROOT, RunConfig
from judge.context import RunContext
from judge.store import RunStore, latest_dicts

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


def provenance(cfg: RunConfig) -> dict[str, Any]:
    return {
        "name": cfg.name,
        "config": cfg.model_dump(mode="json"),
        "config_path": cfg.source_path,
        "versions": {"judge": _version("judge"), "python": sys.version.split()[0],
                     "litellm": _version("litellm"), "pydantic": _version("pydantic"),
                     "platform": platform.platform()},
        "git": git_info(),
        "generators": [g.label for g in cfg.generators],
        "judges": [j.label for j in cfg.judges],
        "env_vars_used": env_vars_used(cfg),
    }


def summarize_records(store: RunStore) -> dict[str, Any]:
    """Counts by status, tokens and cost summed over the latest record per id of each file."""
    counts: dict[str, Any] = {}
    tokens = {"prompt": 0, "completion": 0}
    cost, unknown = 0.0, 0
    for stage, idf, status in (("queries", "query_id", None),
                               ("generations", "generation_id", "status"),
                               ("judgments", "judgment_id", "parse_status"),
                               ("human_labels", "label_id", None)):
        recs = latest_dicts(store.path(stage), idf)
        counts[stage] = len(recs)
        if status:
            counts[f"{stage}_by_status"] = dict(Counter(r.get(status) for r in recs.values()))
            for r in recs.values():
                u = r.get("usage") or {}
                tokens["prompt"] += u.get("prompt_tokens", 0)
                tokens["completion"] += u.get("completion_tokens", 0)
                if r.get("cost_usd") is None:
                    unknown += int(r.get("error") is None)
                else:
                    cost += r["cost_usd"]
    return {"counts": counts, "tokens": tokens,
            "cost": {"total_usd": round(cost, 6), "calls_with_unknown_cost": unknown}}


def open_run(cfg: RunConfig, *, progress: bool = False, retry_errors: bool = False,
             check_keys: bool = True) -> RunContext:
    """Validate credentials (before any work), open the run directory, record provenance."""
    if check_keys:
        from judge.llm.client import check_credentials

        for spec in cfg.all_models():
            check_credentials(spec)
    store = RunStore(cfg.run_dir)
    m = store.manifest()
    repairs = m.get("repairs", []) + [r.as_dict() for r in store.repairs]
    store.update_manifest(**provenance(cfg), repairs=repairs)
    return RunContext(cfg, store, progress=progress, retry_errors=retry_errors)


def run_stages(ctx: RunContext, stages: list[str], force: list[str] | None = None
               ) -> dict[str, Any]:
    """Run ``stages`` in order; ``force`` moves a stage's old output aside first."""
    from judge.stages import calibrate, generate, report, score

    force = force or []
    for st in force:
        if st == "generate":
            ctx.store.reset("generations")
        elif st == "score":
            ctx.store.reset("judgments")
        elif st == "calibrate":
            ctx.store.reset("human_labels")
        elif st == "queries":
            ctx.store.reset("queries")
    results: dict[str, Any] = {}
    fns = {"queries": generate.expand_queries, "generate": generate.generate,
           "score": score.score, "calibrate": calibrate.calibrate, "report": report.report}
    wanted = list(stages)
    if "generate" in wanted and "queries" not in wanted:
        wanted.insert(wanted.index("generate"), "queries")
    executor = None
    if ctx.cfg.executor.kind == "ray" and {"generate", "score"} & set(wanted):
        from judge.executors import RayExecutor

        executor = RayExecutor.connect(ctx.cfg)  # UsageError naming the extra if no Ray
        ctx.store.update_manifest(cluster=executor.cluster_info())
        fns["generate"] = lambda c: executor.run_stage(c, "generate")
        fns["score"] = lambda c: executor.run_stage(c, "score")
    t0 = time.perf_counter()
    try:
        for st in wanted:
            if st == "report":
                _write_summary(ctx, results, t0)
            r = fns[st](ctx)
            results[st] = r.as_dict()
            if r.stopped:
                break
    finally:
        _write_summary(ctx, results, t0)
        ctx.close()
        if executor is not None:
            executor.shutdown()
    return results


def _write_summary(ctx: RunContext, results: dict[str, Any], t0: float) -> None:
    m = ctx.store.manifest()
    summary = summarize_records(ctx.store)
    stats = ctx.model_stats()
    stopped = next((r["stopped"] for r in results.values() if r.get("stopped")), None)
    rubrics = results.get("score", {}).get("extra", {}).get("rubrics") or m.get("rubrics") or {}
    ctx.store.update_manifest(
        stages=results, rubrics=rubrics, **summary,
        budget_usd=ctx.cfg.budget_usd, calls_last_invocation=stats,
        errors=summary["counts"].get("generations_by_status", {}).get("error", 0)
        + summary["counts"].get("judgments_by_status", {}).get("error", 0),
        status="stopped" if stopped else "ok", stopped_reason=stopped,
        timings={"last_invocation_s": round(time.perf_counter() - t0, 3)})
