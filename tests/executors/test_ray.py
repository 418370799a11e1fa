"""The ray executor: same records as a local run, shard-level resume, failed shards as data.

Tests marked ``ray_cluster`` run against one real local Ray cluster per module (2 CPUs) and
are skipped when Ray is not installed (``pip install 'judge[ray]'``). The rest need no Ray.
That a whole Ray run makes the local run's records and manifest byte for byte (and records
its cluster) is tests/executors/test_equivalence.py's ray case.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml

os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")

from judge.config import ExecutorConfig, RunConfig, load_config  # noqa: E402
from judge.errors import UsageError  # noqa: E402
from judge.executors import (  # noqa: E402
    RayExecutor,
    apply_executor_overrides,
    plan_shards,
    require_ray,
    run_shard,
)
from judge.ids import shard_of  # noqa: E402
from judge.pipeline import open_run, run_stages  # noqa: E402
from judge.tasks import StageResult, pending, stage_tasks  # noqa: E402
from tests.fixtures.runs import FILES, STAGES  # noqa: E402
from tests.fixtures.shared import once_per_session  # noqa: E402

ROOT = Path(__file__).resolve().parents[2]


def write_config(tmp_path: Path, name: str, **over: Any) -> Path:
    cfg: dict[str, Any] = {
        "name": name, "output_dir": str(tmp_path / "runs"), "seed": 7,
        "queries": {"scenarios": [str(ROOT / "datasets/scenarios/*.yaml")], "limit": 4},
        "generators": [{"model": "sim/generator", "samples": 2, "concurrency": 8}],
        "judges": [{"model": "sim/judge", "concurrency": 8}],
        "rubrics": ["decision_dev"], "cache": {"enabled": False},
    }
    cfg.update(over)
    path = tmp_path / f"{name}.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def lines(run_dir: Path, stage: str) -> list[dict[str, Any]]:
    path = run_dir / f"{stage}.jsonl"
    return [json.loads(x) for x in path.read_text().splitlines()] if path.exists() else []


def contents(run_dir: Path, stage: str) -> dict[str, dict[str, Any]]:
    """Latest record per id, without the run-dependent ``call`` field."""
    return {r[FILES[stage]]: {k: v for k, v in r.items() if k != "call"}
            for r in lines(run_dir, stage)}


@pytest.fixture(scope="module")
def local_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The reference: the small config run by the local executor (once per session)."""
    def build(tmp: Path) -> None:
        run_stages(open_run(load_config(write_config(tmp, "ref"))), STAGES)

    return once_per_session(tmp_path_factory, "ray-local-run", build) / "runs" / "ref"


@pytest.fixture(scope="module")
def ray_cluster() -> Any:
    """One local Ray cluster (2 CPUs) for the whole module; yields its GCS address."""
    ray = pytest.importorskip("ray", reason="ray is not installed: pip install 'judge[ray]'")
    ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False,
             logging_level="ERROR")
    try:
        yield ray.get_runtime_context().gcs_address
    finally:
        ray.shutdown()


# ------------------------------------------------------------------ without Ray


def test_missing_ray_is_a_usage_error_naming_the_extra(tmp_path: Path,
                                                       monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "ray", None)  # makes `import ray` raise ImportError
    with pytest.raises(UsageError) as exc:
        require_ray()
    assert exc.value.exit_code == 2
    assert "pip install 'judge[ray]'" in str(exc.value)
    assert "\n" not in str(exc.value)
    cfg = load_config(write_config(tmp_path, "noray", executor={"kind": "ray"}))
    with pytest.raises(UsageError, match=r"executor.kind: the ray executor needs Ray"):
        run_stages(open_run(cfg), STAGES)
    assert not cfg.run_dir.exists()  # refused in preflight, before the run directory


def test_apply_executor_overrides(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, "ov"))
    out = apply_executor_overrides(cfg, "ray", "auto", 8)
    assert out.executor == ExecutorConfig(kind="ray", address="auto", shards=8)
    assert out.source_path == cfg.source_path and cfg.executor.kind == "auto"
    assert apply_executor_overrides(cfg, None, None, None).executor == cfg.executor
    with pytest.raises(UsageError, match=r"--shards: .*greater than or equal to 1"):
        apply_executor_overrides(cfg, "ray", None, 0)
    with pytest.raises(UsageError, match=r"--executor: .*'auto', 'local', 'processes' or 'ray'"):
        apply_executor_overrides(cfg, "dask", None, None)
    with pytest.raises(UsageError, match="apply only to the ray executor"):
        apply_executor_overrides(cfg, None, None, 3)


def run_shards_in_process(cfg: RunConfig, shards: int, scratch: Path) -> None:
    """Routing + the task body, without Ray: every missing id lands in exactly one shard."""
    ctx = open_run(cfg)
    run_stages(ctx, ["queries"])
    for stage, out in (("generate", "generations"), ("score", "judgments")):
        st, res = stage_tasks(cfg, stage), StageResult(stage)
        plan = plan_shards(ctx.store, st, pending(ctx, st, res), shards, scratch / stage)
        assert res.skipped == 0 and sum(plan.pending.values()) == res.planned > 0
        with ctx.writer(out) as app:
            for i in sorted(plan.pending):
                got = run_shard(cfg.model_dump_json(), stage, i, shards, plan.files(i),
                                plan.assigned(i), None, False)
                assert got["result"]["written"] == plan.pending[i]
                assert all(shard_of(json.loads(x)[FILES[out]], shards) == i
                           for x in got["lines"])
                app.write_lines(got["lines"])
        again_res = StageResult(stage)
        again = plan_shards(ctx.store, st, pending(ctx, st, again_res), shards,
                            scratch / f"{stage}-again")
        assert again.pending == {} and again_res.skipped == res.planned  # nothing to route


def test_shards_run_in_process_reproduce_the_local_run(tmp_path: Path, local_run: Path) -> None:
    cfg = load_config(write_config(tmp_path, "inproc"))
    run_shards_in_process(cfg, 3, tmp_path)
    for stage in FILES:
        assert contents(cfg.run_dir, stage) == contents(local_run, stage)


def test_task_refuses_rubric_files_that_differ_from_the_drivers(tmp_path: Path) -> None:
    cfg = load_config(write_config(tmp_path, "rubhash"))
    with pytest.raises(RuntimeError, match=r"rubric files on .* differ from the driver's"):
        run_shard(cfg.model_dump_json(), "score", 0, 2, {}, frozenset(), None, False,
                  rubric_hashes={"decision_dev@1.0.0": "not-the-hash"})


def test_group_rubrics_and_probes_shard_by_counterfactual_group(tmp_path: Path) -> None:
    """Pairwise/set tasks and swap probes need whole groups: shards must get them whole."""
    over = {"probes": ["verbosity", "attribute_swap"],
            "rubrics": ["decision_dev", "answer_quality_pairwise", "counterfactual_decision"],
            "generators": [{"model": "sim/generator", "samples": 1}]}
    ref = load_config(write_config(tmp_path, "groupref", **over))
    run_stages(open_run(ref), STAGES)
    modes = Counter((r["mode"], r["probe"]) for r in lines(ref.run_dir, "judgments"))
    assert {"pairwise", "counterfactual_set"} <= {m for m, _ in modes}
    assert {"attribute_swap", "verbosity", "position_swap"} <= {p for _, p in modes}
    cfg = load_config(write_config(tmp_path, "groupshards", **over))
    run_shards_in_process(cfg, 5, tmp_path)
    for stage in FILES:
        assert contents(cfg.run_dir, stage) == contents(ref.run_dir, stage)


def test_cluster_cap_divides_model_concurrency_over_tasks(tmp_path: Path) -> None:
    class FakeRay:
        @staticmethod
        def cluster_resources() -> dict[str, float]:
            return {"CPU": 8.0}

    cfg = load_config(write_config(tmp_path, "cap", executor={
        "kind": "ray", "model_concurrency": {"sim/generator": 6, "sim/judge": 64}}))
    ex = RayExecutor(cfg, FakeRay, started=False)  # type: ignore[arg-type]
    assert ex.parallel("generate", 100) == 6  # never more tasks than the smallest cap
    assert ex.parallel("score", 100) == 8  # CPUs
    assert ex.parallel("score", 3) == 3  # no more tasks than shards with work
    tcfg = ex.task_config("score", 8)
    assert [j.concurrency for j in tcfg.judges] == [8]  # 64 // 8: the sum stays <= 64
    assert [g.concurrency for g in ex.task_config("generate", 6).generators] == [1]
    assert Path(tcfg.plugins["sim"]["profile"]).is_absolute()


def test_unknown_model_in_cluster_cap_is_a_usage_error(tmp_path: Path) -> None:
    pytest.importorskip("ray", reason="ray is not installed: pip install 'judge[ray]'")
    cfg = load_config(write_config(tmp_path, "badcap", executor={
        "kind": "ray", "model_concurrency": {"sim/nope": 4}}))
    with pytest.raises(UsageError, match=r"executor.model_concurrency: no model labelled "
                                         r"'sim/nope' \(use one of: sim/generator, sim/judge\)"):
        open_run(cfg)
    assert not cfg.run_dir.exists()


# ------------------------------------------------------------------ on a real Ray cluster


KILL_SCRIPT = """
import os, signal, sys
os.environ.setdefault("LITELLM_LOCAL_MODEL_COST_MAP", "True")
import ray
from judge.config import load_config
from judge.executors.ray import RayExecutor
from judge.pipeline import open_run, run_stages

def die(self, index):  # a hard kill in the middle of appending the next shard
    with open(self.cfg.run_dir / "generations.jsonl", "a") as fh:
        fh.write('{"generation_id": "torn')
    os.kill(os.getpid(), signal.SIGKILL)

RayExecutor.after_shard = die
ray.init(address=sys.argv[2], log_to_driver=False, logging_level="ERROR")
run_stages(open_run(load_config(sys.argv[1])), ["generate", "score"])
"""


def test_killed_driver_rerun_completes_without_duplicates(tmp_path: Path, local_run: Path,
                                                          ray_cluster: str) -> None:
    path = write_config(tmp_path, "killed",
                        executor={"kind": "ray", "shards": 4, "parallel": 1})
    script = tmp_path / "kill_driver.py"
    script.write_text(textwrap.dedent(KILL_SCRIPT))
    proc = subprocess.run([sys.executable, str(script), str(path), ray_cluster],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == -9, proc.stderr[-2000:]
    cfg = load_config(path)
    run_dir = cfg.run_dir
    raw = (run_dir / "generations.jsonl").read_text()
    assert raw.endswith('"torn')  # the kill left a torn line behind
    first = len(raw.splitlines()) - 1
    total = len(lines(local_run, "generations"))
    assert 0 < first < total  # one shard of four was appended before the kill

    res = run_stages(open_run(cfg), STAGES)
    assert res["generate"]["skipped"] == first
    assert res["generate"]["written"] == total - first
    assert (run_dir / "generations.jsonl.torn").exists()
    for stage in FILES:
        recs = lines(run_dir, stage)
        dup = [k for k, n in Counter(r[FILES[stage]] for r in recs).items() if n > 1]
        assert dup == []
        assert contents(run_dir, stage) == contents(local_run, stage)


def test_shard_failing_for_good_becomes_retryable_error_records(
        tmp_path: Path, local_run: Path, ray_cluster: str,
        monkeypatch: pytest.MonkeyPatch) -> None:
    import judge.executors.ray as ray_mod

    real = run_shard

    def flaky(*args: Any, **kw: Any) -> dict[str, Any]:
        if kw.get("fail_with") is None and args[1] == "generate" and args[2] == 1:
            raise RuntimeError("boom in shard 1")
        return real(*args, **kw)

    monkeypatch.setattr(ray_mod, "run_shard", flaky)
    path = write_config(tmp_path, "flaky", executor={"kind": "ray", "shards": 3,
                                                     "max_retries": 1})
    cfg = load_config(path)
    res = run_stages(open_run(cfg), STAGES)
    failed = res["generate"]["extra"]["ray"]["failed_shards"]
    assert [f["shard"] for f in failed] == [1] and "boom in shard 1" in failed[0]["error"]
    gens = contents(cfg.run_dir, "generations")
    ref = contents(local_run, "generations")
    assert gens.keys() == ref.keys()
    bad = {k for k, g in gens.items() if g["status"] == "error"}
    assert bad == {k for k in ref if shard_of(k, 3) == 1} and bad
    assert all(gens[k]["error"]["type"] == "ShardFailed" and gens[k]["error"]["retryable"]
               for k in bad)
    assert res["generate"]["errors"] == len(bad)
    assert len(contents(cfg.run_dir, "judgments")) < len(contents(local_run, "judgments"))

    monkeypatch.setattr(ray_mod, "run_shard", real)
    run_stages(open_run(cfg), STAGES)  # the re-run retries the failed shard's records
    assert contents(cfg.run_dir, "generations") == ref
    assert contents(cfg.run_dir, "judgments") == contents(local_run, "judgments")
