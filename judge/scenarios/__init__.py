"""Scenario templates x sensitive attributes -> simulated user queries in counterfactual groups.

See datasets/README.md for the scenario format, the designs and the attribute lists.
"""

from judge.scenarios._attributes import (
    AXES,
    Cue,
    CueMatcher,
    Library,
    attribute_cues,
    cue_matcher,
    load_library,
    match_cues,
)
from judge.scenarios._expand import (
    iter_groups,
    iter_queries,
    load_scenarios,
    read_queries,
    scenario_paths,
)
from judge.scenarios._model import Scenario, ScenarioSpec, compile_scenario

__all__ = [
    "AXES",
    "Cue",
    "CueMatcher",
    "Library",
    "Scenario",
    "ScenarioSpec",
    "attribute_cues",
    "compile_scenario",
    "cue_matcher",
    "iter_groups",
    "iter_queries",
    "load_library",
    "load_scenarios",
    "match_cues",
    "read_queries",
    "scenario_paths",
]
