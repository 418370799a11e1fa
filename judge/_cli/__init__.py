"""Command modules of judge.cli, each imported when its command runs (judge._cli.lazy)."""
