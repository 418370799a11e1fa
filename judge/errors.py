"""Error types. Every user-facing failure is a :class:`JudgeError` with one clear line."""

from __future__ import annotations

from pathlib import Path


class JudgeError(Exception):
    """An error the user can fix. ``exit_code`` 2 means usage or configuration."""

    exit_code = 1

    def __init__(self, message: str, *, path: str | Path | None = None, line: int | None = None,
                 col: int | None = None, field: str | None = None, hint: str | None = None):
        self.message = message
        self.path = str(path) if path is not None else None
        self.line = line
        self.col = col
        self.field = field
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        """``file:line:col: field: message (hint)`` with the parts that are known."""
        loc = ""
        if self.path:
            loc = self.path
            if self.line is not None:
                loc += f":{self.line}"
                if self.col is not None:
                    loc += f":{self.col}"
            loc += ": "
        fld = f"{self.field}: " if self.field else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{loc}{fld}{self.message}{hint}"


class UsageError(JudgeError):
    """Bad config, bad arguments, bad input files. Exit code 2."""

    exit_code = 2


class ConfigError(UsageError):
    """A run config that does not validate."""


class DataError(UsageError):
    """An input data file (scenario, labels, dataset) that cannot be used."""


class StoreError(JudgeError):
    """A run directory that cannot be read or written."""

    exit_code = 2
