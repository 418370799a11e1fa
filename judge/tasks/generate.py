"""Generate tasks: every query × generator × sample, answered by the generator model."""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from pydantic import ValidationError

from judge.config import GeneratorSpec, ModelSpec, RunConfig
from judge.errors import DataError
from judge.ids import stable_int
from judge.records import CallInfo, Generation, Query, now_iso
from judge.tasks._model import Reader, StageInput, Task


def generation_params(spec: GeneratorSpec, sample: int, seed: int) -> dict[str, Any]:
    """Sampling params for one sample; a per-sample seed unless the config fixes one."""
    params = dict(spec.params)
    if "seed" not in params:
        params["seed"] = _sample_seed(seed, sample)
    return params


@lru_cache(maxsize=1024)
def _sample_seed(seed: int, sample: int) -> int:
    return stable_int(seed, sample) % (2**31)


class GenerateTasks:
    """The ``generate`` stage as tasks: one per (query, generator, sample)."""

    name = "generate"
    output = "generations"
    id_field = "generation_id"
    inputs = (StageInput("queries", "query_id"),)

    def __init__(self, cfg: RunConfig):
        self.cfg = cfg

    def models(self) -> list[ModelSpec]:
        return list(self.cfg.generators)

    def tasks(self, read: Reader) -> Iterator[Task]:
        seed = self.cfg.seed
        for obj in read("queries"):
            try:
                q = Query.model_validate(obj)
            except ValidationError as err:
                e = err.errors()[0]
                raise DataError(f"query {obj.get('query_id')!r} is not a valid record: "
                                f"{'.'.join(map(str, e['loc']))}: {e['msg']}",
                                path="queries.jsonl", hint="fix or remove that line (see "
                                "`judge schema query`), then re-run") from err
            for spec in self.cfg.generators:
                for s in range(spec.samples):
                    params = generation_params(spec, s, seed)
                    gid = Generation.make_id(q.query_id, spec.model, params, s)
                    yield Task(gid, q.query_id, q.cf_group, spec.label, "generate",
                               (q, spec, s, params))

    async def run(self, task: Task, clients: dict[str, Any]) -> Generation:
        q, spec, s, params = task.payload
        messages = q.messages()
        r = await clients[spec.label].complete(messages, params, sample=s)
        return Generation(
            generation_id=task.id, query_id=q.query_id, cf_group=q.cf_group,
            scenario_id=q.scenario_id, context=q.context, attributes=q.attributes,
            prompt=messages, model=spec.label, model_string=spec.model, params=params,
            sample=s, status="ok" if r.ok else "error", response=r.text,
            finish_reason=r.finish_reason, error=r.error, usage=r.usage, cost_usd=r.cost_usd,
            call=CallInfo(latency_s=round(r.latency_s, 4), attempts=r.attempts, cached=r.cached,
                          created_at=now_iso()))

    def is_error(self, rec: Any) -> bool:
        return rec.status != "ok"

    def facts(self) -> dict[str, Any]:
        return {}
