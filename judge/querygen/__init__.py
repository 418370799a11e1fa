"""LLM-written queries: a writer model writes user queries from a persona and a use case
(or rewrites a seed query for another persona), and a validator model checks each one.

See datasets/README.md, "LLM-written queries".
"""

from judge.querygen._prompts import PROMPT_VERSION, brief, rewrite_messages, write_messages
from judge.querygen._run import (
    REJECTIONS_FILE,
    TEMPLATE_ID,
    VALID,
    GroupJob,
    GroupOutcome,
    Member,
    QueryWriter,
    Verdict,
    check_config,
    clean_reply,
    plan_groups,
)
from judge.querygen._stage import write_llm_queries

__all__ = [
    "PROMPT_VERSION", "REJECTIONS_FILE", "TEMPLATE_ID", "VALID", "GroupJob", "GroupOutcome",
    "Member", "QueryWriter", "Verdict", "brief", "check_config", "clean_reply", "plan_groups",
    "rewrite_messages", "write_llm_queries", "write_messages",
]
