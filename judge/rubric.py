"""Rubrics: the public API of :mod:`judge.rubrics`, under its design-sketch name."""

from judge.rubrics import *  # noqa: F403
from judge.rubrics import __all__  # noqa: F401
