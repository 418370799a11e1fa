"""The embedded simulated world, as a plugin (entry point ``judge.plugins: sim``).

Offline, keyless, deterministic given a seed, and honest about being a simulation:

- :mod:`judge.sim.world`: planted-truth generator, judge and raters as pure functions of text;
- :mod:`judge.sim.provider`: the ``sim/`` litellm custom provider (and its prices);
- :mod:`judge.sim.writer`: the simulated writer of user queries;
- :mod:`judge.sim.humans`: simulated human raters;
- :mod:`judge.sim.oracle`: planted values for the metric and calibration tables;
- :mod:`judge.sim.server`: ``judge serve-sim``, the world over the OpenAI protocol, with faults;
- :mod:`judge.sim.coverage`, :mod:`judge.sim.synthetic`: coverage studies and planted frames.

Production modules never import this package (an import-linter contract in pyproject.toml
says so); they call the hooks of :mod:`judge.plugins`, which :data:`plugin` implements.
Importing this package is cheap: the hooks import what they need when called.
"""

from judge.sim.plugin import SimPlugin

plugin = SimPlugin()

__all__ = ["SimPlugin", "plugin"]
