"""Cell suppression for published count tables: small counts, and the cells that would give them away.

A table set is described generically: ``values`` maps each cell (any hashable id) to its true
count, and each :class:`Equation` says that a weighted sum of cells is zero (a row of cells minus
its row total, a total published twice minus itself). Only equations that really hold in the data
belong there (:func:`holds`): a reader can use exactly those to work a hidden cell out.

:func:`suppress` hides every count ``0 < value < threshold`` (primary suppression), then hides
more cells (complementary suppression) until three rules hold. They are checked in this order,
and after any rule hides a cell the checks start again from rule 1, until none hides more:

1. no equation has exactly one hidden cell (it would give that cell away);
2. no equation pins small counts by their sum: when every hidden cell of an equation has the
   same sign, a reader knows their sum; if they are all below the threshold (two hidden 1s in a
   row whose total is published add up to 2, so both are 1), one more cell is hidden: a count
   of at least the threshold, or a cell of the other sign (the total), which makes the sum unknown;
3. no hidden cell is determined by a combination of equations: its unit vector must not lie in
   the row space of the equations restricted to the hidden cells (published values moved to the
   right-hand side); checked exactly, by Gauss-Jordan elimination in rational arithmetic
   (:func:`determined_cells`). For the first determined cell, one more cell of an equation that
   holds it is hidden.

Which cell to hide is decided by :func:`_preference`: a non-zero count before a zero (a reader may
guess a zero), an inner cell before a total, one that does not leave another equation with a
single hidden cell, then the smallest count, then the first in the order of ``values``. The
result is deterministic. Bounds a reader could derive by linear programming over several
equations with non-negative counts are not audited beyond rule 2.

>>> values = {"a": 3, "b": 10, "total": 13}
>>> s = suppress(values, [Equation({"a": 1, "b": 1, "total": -1})], threshold=5, totals={"total"})
>>> sorted(s.primary), sorted(s.complementary)
(['a'], ['b'])
"""

from __future__ import annotations

from collections.abc import Collection, Hashable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from fractions import Fraction

from workbench.errors import WorkbenchError

Cell = Hashable


@dataclass(frozen=True)
class Equation:
    """``sum(coefficient * value of cell) == 0`` over ``terms``; ``name`` says which relation it is."""

    terms: Mapping[Cell, int]
    name: str = ""

    @property
    def cells(self) -> tuple[Cell, ...]:
        return tuple(self.terms)


@dataclass(frozen=True)
class Suppression:
    """Which cells are hidden: below the threshold (``primary``) or to protect those (``complementary``)."""

    primary: frozenset[Cell]
    complementary: frozenset[Cell]
    threshold: int
    equations: tuple[Equation, ...] = field(default=(), repr=False)

    @property
    def suppressed(self) -> frozenset[Cell]:
        return self.primary | self.complementary

    def status(self, cell: Cell) -> str | None:
        """``"primary"``, ``"complementary"`` or None (published)."""
        if cell in self.primary:
            return "primary"
        return "complementary" if cell in self.complementary else None


def holds(equation: Equation, values: Mapping[Cell, int]) -> bool:
    """Whether the equation is true of the counts (an equation that is not tells a reader nothing exact)."""
    return sum(coefficient * values[cell] for cell, coefficient in equation.terms.items()) == 0


def primary_cells(values: Mapping[Cell, int], threshold: int) -> set[Cell]:
    """Counts from 1 to ``threshold - 1``: few enough to point at someone. Zeros are published."""
    return {cell for cell, value in values.items() if 0 < value < threshold}


def determined_cells(equations: Iterable[Equation], hidden: Collection[Cell]) -> set[Cell]:
    """The hidden cells whose value follows exactly from the published cells and the equations.

    After the published values are moved to the right-hand side, a hidden cell is determined when
    its unit vector lies in the row space of the equations over the hidden cells; in reduced row
    echelon form that is when some row has that cell as its only non-zero entry.

    >>> eqs = [Equation({"x": 1, "y": 1, "t": -1}), Equation({"x": 1, "z": 1, "u": -1}), Equation({"y": 1, "z": -1})]
    >>> sorted(determined_cells(eqs, {"x", "y", "z"}))  # x + y = t, x + z = u and y = z leave two unknowns
    []
    >>> sorted(determined_cells(eqs, {"x", "y"}))  # z published: y = z, then x = t - y
    ['x', 'y']
    """
    hidden = set(hidden)
    rows = [{c: Fraction(k) for c, k in e.terms.items() if c in hidden and k} for e in equations]
    rows = [row for row in rows if row]
    order = {cell: i for i, cell in enumerate(sorted(hidden, key=repr))}
    reduced: list[tuple[Cell, dict[Cell, Fraction]]] = []  # (pivot, row), every row free of the other pivots
    for row in rows:
        for pivot, pivot_row in reduced:
            factor = row.get(pivot)
            if factor:
                _add(row, pivot_row, -factor)
        if not row:
            continue
        pivot = min(row, key=order.__getitem__)
        scale = row[pivot]
        row = {c: v / scale for c, v in row.items()}
        for _, other in reduced:  # keep earlier rows free of the new pivot (Gauss-Jordan)
            factor = other.get(pivot)
            if factor:
                _add(other, row, -factor)
        reduced.append((pivot, row))
    return {pivot for pivot, row in reduced if len(row) == 1}


def _add(target: dict[Cell, Fraction], source: Mapping[Cell, Fraction], factor: Fraction) -> None:
    """``target += factor * source``, dropping entries that become zero."""
    for cell, value in source.items():
        new = target.get(cell, 0) + factor * value
        if new:
            target[cell] = new
        else:
            target.pop(cell, None)


def _preference(cell: Cell, values: Mapping[Cell, int], totals: Collection[Cell], hidden: Collection[Cell],
                touching: Mapping[Cell, list[Equation]], order: Mapping[Cell, int]) -> tuple:
    """Sort key of a candidate for complementary suppression; the smallest key is hidden first.

    A zero is a poor cover (a reader may guess it); a total hides more than it needs to; a cell that
    is the first hidden one of another equation starts a new chain; then the smallest count loses
    the least information.
    """
    opens = sum(1 for e in touching[cell] if not any(c in hidden for c in e.cells))
    return (values[cell] == 0, cell in totals, opens, values[cell], order[cell])


def _pinning_cover(equation: Equation, values: Mapping[Cell, int], hidden: set[Cell], primary: Collection[Cell],
                   threshold: int, best) -> Cell | None:
    """The cell to hide when ``equation`` makes known the sum of hidden counts that are all below the
    threshold (rule 2), else None."""
    signs = {(k > 0) for c, k in equation.terms.items() if c in hidden}
    if len(signs) != 1 or not any(c in primary for c in equation.cells):
        return None
    if any(values[c] >= threshold for c in equation.cells if c in hidden):
        return None
    sign = signs.pop()
    # a cover that fixes it: a count of at least the threshold on the same side, or any cell on the other
    fixes = [c for c, k in equation.terms.items() if c not in hidden and ((k > 0) != sign or values[c] >= threshold)]
    return best(fixes)


def suppress(values: Mapping[Cell, int], equations: Sequence[Equation], *, threshold: int,
             totals: Collection[Cell] = ()) -> Suppression:
    """Primary and complementary suppression of ``values`` under ``equations`` (see the module text).

    Every equation must hold (:func:`holds`); one that does not is a mistake in the caller's model
    of the tables and raises :class:`WorkbenchError` naming it.
    """
    if threshold < 1:
        raise WorkbenchError(f"suppression threshold must be at least 1, not {threshold}")
    for equation in equations:
        missing = [c for c in equation.cells if c not in values]
        if missing:
            raise WorkbenchError(f"equation {equation.name or equation.terms!r} names cells with no value: {missing!r}")
        if not holds(equation, values):
            raise WorkbenchError(f"equation {equation.name or equation.terms!r} does not hold for these counts")
    order = {cell: i for i, cell in enumerate(values)}
    touching: dict[Cell, list[Equation]] = {cell: [] for cell in values}
    for equation in equations:
        for cell in equation.cells:
            touching[cell].append(equation)
    totals = frozenset(totals)
    primary = primary_cells(values, threshold)
    hidden = set(primary)

    def best(candidates: Iterable[Cell]) -> Cell | None:
        free = [c for c in candidates if c not in hidden]
        return min(free, key=lambda c: _preference(c, values, totals, hidden, touching, order)) if free else None

    while True:
        grew = False
        for equation in equations:  # rule 1: an equation with one hidden cell gives it away
            if sum(1 for c in equation.cells if c in hidden) == 1:
                cover = best(equation.cells)
                if cover is not None:
                    hidden.add(cover)
                    grew = True
        if grew:
            continue
        for equation in equations:  # rule 2: small hidden counts whose sum is known
            cover = _pinning_cover(equation, values, hidden, primary, threshold, best)
            if cover is not None:
                hidden.add(cover)
                grew = True
        if grew:
            continue
        determined = determined_cells(equations, hidden)  # rule 3: combinations of equations
        if not determined:
            break
        cell = min(determined, key=order.__getitem__)
        around = sorted(touching[cell], key=lambda e: sum(1 for c in e.cells if c in hidden))
        cover = next((c for c in (best(e.cells) for e in around) if c is not None), None)
        if cover is None:
            cover = best(c for e in equations if any(x in hidden for x in e.cells) for c in e.cells)
        if cover is None:
            raise WorkbenchError(f"cell {cell!r} can be recomputed whatever else is hidden; the equations given "
                                 "fix its value on their own")
        hidden.add(cover)
    return Suppression(frozenset(primary), frozenset(hidden - primary), threshold, tuple(equations))
