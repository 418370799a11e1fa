"""The sim plugin's hooks (see :mod:`judge.plugins` for what each hook means)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from judge.config import resolve_path
from judge.errors import ConfigError

DEFAULT_PROFILE = "datasets/sim/default.yaml"
OPTION_KEYS = ("profile",)


def profile_path(options: dict[str, Any]) -> str:
    """The sim profile YAML these options name (default: the repo's planted world)."""
    return str(resolve_path(options.get("profile") or DEFAULT_PROFILE))


def uses_sim(cfg: Any) -> bool:
    return any(s.provider == "sim" for s in cfg.all_models())


class SimPlugin:
    """Serves ``sim/...`` models, knows the planted truth, simulates raters."""

    name = "sim"
    provider = "sim"

    def check_options(self, options: dict[str, Any], cfg: Any) -> None:
        unknown = sorted(set(options) - set(OPTION_KEYS))
        if unknown:
            raise ConfigError("unknown key", path=cfg.source_path, field=f"plugins.sim.{unknown[0]}",
                              hint=f"known: {', '.join(OPTION_KEYS)}")
        if uses_sim(cfg) and not Path(profile_path(options)).exists():
            raise ConfigError(f"sim profile not found: {options.get('profile')}",
                              path=cfg.source_path, field="plugins.sim.profile",
                              hint="check the path")

    def portable_options(self, options: dict[str, Any]) -> dict[str, Any]:
        return {**options, "profile": profile_path(options)}

    def setup_provider(self, models: list[str], options: dict[str, Any]) -> None:
        from judge.sim.provider import register

        register(profile_path(options), models)

    def planted_metrics(self, cfg: Any, frames: Any, scored: Any, table: Any) -> Any:
        if not any(g.provider == "sim" for g in cfg.generators):
            return None
        from judge.sim.oracle import planted_metrics

        return planted_metrics(cfg, profile_path(self._opts(cfg)), frames, scored, table)

    def planted_calibration(self, cfg: Any, frames: Any, out: dict[str, Any], judgments: Any,
                            labels: Any) -> None:
        if not cfg.judges or not all(s.provider == "sim" for s in cfg.judges):
            return
        from judge.sim.oracle import planted_calibration

        planted_calibration(cfg, profile_path(self._opts(cfg)), frames, out, judgments, labels)

    def simulate_labels(self, cfg: Any, generations: list[dict[str, Any]], rubrics: list[Any]
                        ) -> Iterator[Any]:
        from judge.sim.humans import simulate_labels, stratified_sample
        from judge.sim.provider import get_world

        sim = cfg.human_labels.simulate
        picks = stratified_sample(generations, sim.items, cfg.seed)
        out = Path(cfg.run_dir) / "labelling" / "sim"  # blind sheets, key, labels.jsonl
        yield from simulate_labels(get_world(profile_path(self._opts(cfg))), picks, rubrics,
                                   sim.raters, cfg.seed, sim.criteria, out_dir=out)

    def register_commands(self, app: Any) -> None:
        from judge.sim.cli import serve_sim

        app.command("serve-sim")(serve_sim)

    def _opts(self, cfg: Any) -> dict[str, Any]:
        return dict((cfg.plugins or {}).get(self.name) or {})
