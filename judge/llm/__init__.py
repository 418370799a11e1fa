"""Model access. ``judge.llm.client`` is the only module that calls ``litellm.acompletion``."""
