"""Designs: which attribute cells form each counterfactual group, and which fill combinations
are used, without materialising the cross product."""

from __future__ import annotations

import itertools
import math
import random
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from judge.config import DesignSpec
from judge.ids import stable_int

DEFAULT_ORDER = 2
"""Axes swapped jointly per group in the ``intersectional`` design unless ``order`` says."""


@dataclass(frozen=True)
class SwapUnit:
    """One way to form a group: the axes that vary, the levels held fixed, and the cells."""

    swapped: tuple[str, ...]
    fixed: tuple[tuple[str, str], ...]
    cells: tuple[tuple[tuple[str, str], ...], ...]

    @property
    def key(self) -> dict[str, Any]:
        """Part of the cf_group id: groups of different swaps never share an id."""
        return {"swapped": list(self.swapped), "fixed": dict(self.fixed)}


def _product(axes: list[str], levels: dict[str, list[str]]) -> list[tuple[tuple[str, str], ...]]:
    return [tuple(zip(axes, combo, strict=True)) for combo in itertools.product(*(levels[a] for a in axes))]


def swap_units(design: DesignSpec, selected: list[str], levels: dict[str, list[str]],
               fixed: dict[str, str], seed: int) -> list[SwapUnit]:
    """The swap units of a design over the selected axes (others held at ``fixed``)."""
    base = tuple(sorted(fixed.items()))
    kind = design.kind
    if kind in ("counterfactual", "full_factorial"):
        return [SwapUnit(tuple(selected), base, tuple(_product(selected, levels)))]
    if kind == "sampled":
        cells = _product(selected, levels)
        k = min(design.max_cells or len(cells), len(cells))
        picked = sorted(random.Random(seed).sample(range(len(cells)), k))
        return [SwapUnit(tuple(selected), base, tuple(cells[i] for i in picked))]
    order = 1 if kind == "single_swap" else min(design.order or DEFAULT_ORDER, len(selected))
    units = []
    for swapped in itertools.combinations(selected, order):
        others = [a for a in selected if a not in swapped]
        for held in _product(others, levels):
            units.append(SwapUnit(swapped, tuple(sorted(base + held)),
                                  tuple(_product(list(swapped), levels))))
    return units


def fill_order(n: int, seed: int, salt: str) -> Iterator[int]:
    """A seeded permutation of range(n), computed lazily (affine map i -> a*i + b mod n).

    >>> sorted(fill_order(10, 0, "x")) == list(range(10))
    True
    """
    if n <= 1:
        yield from range(n)
        return
    a = 1 + stable_int(seed, salt, "a") % (n - 1)
    while math.gcd(a, n) != 1:
        a += 1
    b = stable_int(seed, salt, "b") % n
    for i in range(n):
        yield (a * i + b) % n


def sampled_fills(n: int, k: int, seed: int, salt: str) -> list[int]:
    """``k`` distinct fill indices out of ``n``, seeded, in ascending order."""
    return sorted(random.Random(stable_int(seed, salt, "fills")).sample(range(n), min(k, n)))


def decode(index: int, radices: list[int]) -> list[int]:
    """Mixed-radix digits of ``index`` (last slot varies fastest).

    >>> decode(5, [2, 3])
    [1, 2]
    """
    digits = [0] * len(radices)
    for i in range(len(radices) - 1, -1, -1):
        index, digits[i] = divmod(index, radices[i])
    return digits
