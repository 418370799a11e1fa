"""Plugins: model providers, planted truth and simulated raters, found through entry points.

Production code never imports a plugin. It asks this module for the plugins installed
(entry-point group ``judge.plugins``, declared in pyproject.toml) and calls the hooks a
plugin implements. The embedded simulated world (:mod:`judge.sim`) is one such plugin:
it serves the ``sim/`` litellm provider, knows the truth it planted, and simulates raters.
In the spirit of inspect_ai's model-provider registry (``mockllm``) and llm's plugin hooks.

A plugin is an object with a ``name`` and any of these methods (all optional):

- ``provider``: the litellm provider prefix it serves (``"sim"`` for ``sim/...`` models);
- ``check_options(options, cfg)``: validate ``cfg.plugins[name]`` before a run (raise
  :class:`~judge.errors.ConfigError`);
- ``portable_options(options)``: the options as another process or node needs them
  (absolute paths);
- ``setup_provider(models, options)``: register the provider (and its prices) with litellm
  before the first call to one of ``models``;
- ``planted_metrics(cfg, frames, scored, table)``: the metric table with a ``planted``
  column, or None when the plugin knows nothing about this run;
- ``planted_calibration(cfg, frames, out, judgments, labels)``: add ``planted`` to
  calibration rows in place;
- ``simulate_labels(cfg, generations, rubrics)``: human labels from simulated raters;
- ``register_commands(app)``: add CLI commands to the typer app.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from importlib.metadata import entry_points
from typing import Any

from judge.errors import ConfigError

ENTRY_POINT_GROUP = "judge.plugins"


@lru_cache(maxsize=1)
def installed() -> tuple[Any, ...]:
    """Every installed plugin object, loaded once, in entry-point name order."""
    eps = sorted(entry_points(group=ENTRY_POINT_GROUP), key=lambda e: e.name)
    out = []
    for ep in eps:
        obj = ep.load()
        out.append(obj() if isinstance(obj, type) else obj)
    return tuple(out)


def with_hook(hook: str) -> Iterator[Any]:
    """The installed plugins implementing ``hook``."""
    return (p for p in installed() if callable(getattr(p, hook, None)))


def for_provider(provider: str) -> Any | None:
    """The plugin serving litellm provider ``provider`` (e.g. ``"sim"``), if any."""
    return next((p for p in installed() if getattr(p, "provider", None) == provider), None)


def options(cfg: Any, plugin: Any) -> dict[str, Any]:
    """``cfg.plugins[plugin.name]`` (empty when not configured)."""
    return dict((getattr(cfg, "plugins", None) or {}).get(plugin.name) or {})


def check_config(cfg: Any) -> None:
    """Plugin options name installed plugins and pass each plugin's own check."""
    names = {p.name for p in installed()}
    for name in getattr(cfg, "plugins", None) or {}:
        if name not in names:
            raise ConfigError(f"no plugin named {name!r} is installed", path=cfg.source_path,
                              field=f"plugins.{name}",
                              hint=f"installed: {', '.join(sorted(names)) or 'none'}")
    for p in with_hook("check_options"):
        p.check_options(options(cfg, p), cfg)


def portable_plugin_options(cfg: Any) -> dict[str, dict[str, Any]]:
    """Every configured plugin's options as a worker process or node needs them."""
    out = {}
    for p in installed():
        opts = options(cfg, p)
        if callable(getattr(p, "portable_options", None)):
            opts = p.portable_options(opts)
        if opts or p.name in (getattr(cfg, "plugins", None) or {}):
            out[p.name] = opts
    return out


def setup_providers(cfg: Any, models: list[str]) -> None:
    """Let each provider plugin register itself with litellm for the models it serves."""
    by_provider: dict[str, list[str]] = {}
    for m in models:
        if "/" in m:
            by_provider.setdefault(m.split("/", 1)[0], []).append(m)
    for provider, ms in by_provider.items():
        p = for_provider(provider)
        if p is not None and callable(getattr(p, "setup_provider", None)):
            p.setup_provider(ms, options(cfg, p))


def planted_metrics(cfg: Any, frames: Any, scored: Any, table: Any) -> Any:
    """The metric table with planted values from the first plugin that knows them."""
    for p in with_hook("planted_metrics"):
        out = p.planted_metrics(cfg, frames, scored, table)
        if out is not None:
            return out
    return table


def planted_calibration(cfg: Any, frames: Any, out: dict[str, Any], judgments: Any,
                        labels: Any) -> None:
    """Let plugins add planted values to calibration rows (in place)."""
    for p in with_hook("planted_calibration"):
        p.planted_calibration(cfg, frames, out, judgments, labels)


def simulate_labels(cfg: Any, generations: list[dict[str, Any]], rubrics: list[Any]
                    ) -> Iterator[Any]:
    """Human labels from the plugins that simulate raters (``human_labels.simulate``)."""
    found = False
    for p in with_hook("simulate_labels"):
        found = True
        yield from p.simulate_labels(cfg, generations, rubrics)
    if not found:
        raise ConfigError("human_labels.simulate needs a plugin that simulates raters, and "
                          "none is installed", path=cfg.source_path,
                          field="human_labels.simulate",
                          hint="reinstall judge (pip install -e .), or give human_labels.path")


def register_commands(app: Any) -> None:
    """Let plugins add their CLI commands."""
    for p in with_hook("register_commands"):
        p.register_commands(app)
