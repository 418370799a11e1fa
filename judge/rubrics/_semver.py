"""Semantic versions (semver.org 2.0.0): validation and precedence ordering.

>>> is_semver("1.2.3"), is_semver("1.2"), is_semver("1.0.0-rc.1")
(True, False, True)
>>> sorted(["1.10.0", "1.2.0", "1.2.0-rc.1"], key=semver_key)
['1.2.0-rc.1', '1.2.0', '1.10.0']
"""

from __future__ import annotations

import re

SEMVER_RE = re.compile(
    r"^(0|[1-9]\d*)\.(0|[1-9]\d*)\.(0|[1-9]\d*)"
    r"(?:-((?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*)(?:\.(?:0|[1-9]\d*|\d*[a-zA-Z-][0-9a-zA-Z-]*))*))?"
    r"(?:\+([0-9a-zA-Z-]+(?:\.[0-9a-zA-Z-]+)*))?$"
)


def is_semver(text: str) -> bool:
    """True if ``text`` is a valid semantic version such as ``1.0.0``."""
    return isinstance(text, str) and SEMVER_RE.match(text) is not None


def is_prerelease(text: str) -> bool:
    """True for versions such as ``1.1.0-draft``."""
    m = SEMVER_RE.match(text)
    return bool(m and m.group(4))


def semver_key(text: str) -> tuple:
    """A sort key giving semver precedence (build metadata ignored)."""
    m = SEMVER_RE.match(text)
    if not m:
        raise ValueError(f"not a semantic version: {text!r} (expected MAJOR.MINOR.PATCH)")
    major, minor, patch, pre = int(m.group(1)), int(m.group(2)), int(m.group(3)), m.group(4)
    if not pre:
        return (major, minor, patch, 1, ())
    parts = tuple((0, int(p), "") if p.isdigit() else (1, 0, p) for p in pre.split("."))
    return (major, minor, patch, 0, parts)


def newest(versions: list[str]) -> str:
    """The newest release, or the newest pre-release when there is no release."""
    valid = [v for v in versions if is_semver(v)]
    if not valid:
        raise ValueError("no valid versions")
    releases = [v for v in valid if not is_prerelease(v)]
    return max(releases or valid, key=semver_key)
