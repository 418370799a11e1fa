"""Typer sub-apps mounted by judge.cli (imports inside commands stay lazy)."""
