"""Imported once by the ``processes`` executor's forkserver, so workers fork with litellm loaded.

Importing this module imports litellm (seconds of CPU): that is its only purpose. Nothing
else in judge imports it.
"""

from judge.llm.litellm_env import get_litellm
from judge.stages import generate, score  # noqa: F401 - the stage code the workers run

get_litellm()
