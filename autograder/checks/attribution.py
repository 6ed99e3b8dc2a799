"""Diagnosis by attribution: a wrong result explained as the notes' terms, some missing, scaled or computed
another way.

Where a result is a sum of the notes' terms (J = squared error + (lambda/2) sum W^2 + beta sum KL; a
gradient block = its error part + lambda W + its sparsity part), the check computes the reference's terms
on the same instance and looks for the simplest combination that the student's value equals::

    Terms([Term("the squared-error term", E), Term("the weight decay term", D)], m=5).explain(got)
    -> "the weight decay term is missing"

A term may be missing, scaled (by 1/2, 2, -1, m, 1/m, or a factor of its own such as 1/beta), there where
it does not belong (``weight=0``: weight decay on the biases), or computed another way (a ``Variant``: f'
taken at a instead of z). A combination of at most two changes is named when it is the only one as
simple that gives the value; when two or three do (m = h on an instance), each is said; when more do,
attribution says nothing rather than guess. The catalogue of known bugs (``compare``'s ``bugs``) stays for
what is no sum of terms (a transposed block, a layout).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

#: The factors a term may be off by, the first words of what each means (m's are added per instance).
SCALES = {0.0: "missing", 2.0: "twice", 0.5: "half", -1.0: "sign"}


@dataclass(frozen=True)
class Term:
    """One of the notes' terms of a result, on one instance.

    name: in the notes' words ("the weight decay term lambda_ * W[0]").
    weight: its coefficient in the right result: 1, or 0 for a term that does not belong there.
    wrong: for a term of weight 0, what it means when it is there ("weight decay is applied to the biases").
    scales: factors of its own and their meaning ({1 / beta: "beta is missing from it"}).
    """

    name: str
    value: object
    weight: float = 1.0
    wrong: str = ""
    scales: Mapping[float, str] = field(default_factory=dict)


@dataclass(frozen=True)
class Variant:
    """Terms computed another way ({term's name: its value that way}: f' at a changes the error part and the
    sparsity part alike), and what that way is in words."""

    values: Mapping[str, object]
    says: str


@dataclass(frozen=True)
class Terms:
    """The terms of one result on one instance, and what else it could have been."""

    terms: Sequence[Term]
    m: int | None = None
    variants: Sequence[Variant] = ()
    #: {what it is: value}: other quantities the result may equal as a whole (another block: swapped).
    others: Mapping[str, object] = field(default_factory=dict)
    #: What a nan or an infinity in the result usually means here (an invariant of the notes broken).
    nan_hint: str = ""

    def explain(self, got, tol: float = 1e-9) -> str | None:
        """The one simplest explanation of got, in words; None if there is none or more than one."""
        got = np.asarray(got, dtype=np.float64)
        expected = self._sum({t.name: t.weight for t in self.terms}, {})
        if got.shape != np.shape(expected) or not np.all(np.isfinite(got)):
            return None
        scale = max(float(np.max(np.abs(expected), initial=0.0)), 1e-300)

        def equal(value) -> bool:
            return float(np.max(np.abs(got - value), initial=0.0)) <= max(tol, 1e-9) * scale

        if equal(expected):
            return None
        for what, value in self.others.items():
            if np.shape(value) == got.shape and equal(np.asarray(value, dtype=np.float64)):
                return what
        for candidates in (self._candidates(1), self._whole(), self._candidates(2)):
            found = sorted({words for words, value in candidates if equal(value)})
            if len(found) == 1:
                return found[0]
            if 1 < len(found) <= 3:  # as simple as each other, the same numbers here (m = h): say each
                return "one of these (they give the same numbers here): " + "; or ".join(found)
            if found:
                return None  # many: a guess
        return None

    # ------------------------------------------------------------------ the combinations

    def _factors(self, term: Term) -> list[tuple[float, str]]:
        """(coefficient, the words for the term with it) of one term, its right coefficient excluded."""
        if term.weight == 0:
            return [(1.0, term.wrong)]
        out = [(factor * term.weight, _words(term.name, kind, self.m)) for factor, kind in SCALES.items()]
        if self.m and self.m > 1:
            out += [(self.m * term.weight, _words(term.name, "m", self.m))]
            out += [(term.weight / self.m, _words(term.name, "1/m", self.m))]
        return out + [(factor * term.weight, says) for factor, says in term.scales.items()]

    def _candidates(self, changes: int):
        """(words, value) of every combination with this many changes (a variant counts as one)."""
        right = {t.name: t.weight for t in self.terms}
        by_name = {t.name: t for t in self.terms}
        for names in itertools.combinations(right, changes):
            for picks in itertools.product(*(self._factors(by_name[n]) for n in names)):
                coefficients = right | {n: c for n, (c, _) in zip(names, picks)}
                yield "; and ".join(words for _, words in picks), self._sum(coefficients, {})
        for variant in self.variants:
            if not set(variant.values) <= set(right):
                continue
            others = [n for n in right if n not in variant.values]
            for names in itertools.combinations(others, changes - 1):
                for picks in itertools.product(*(self._factors(by_name[n]) for n in names)):
                    coefficients = right | {n: c for n, (c, _) in zip(names, picks)}
                    words = "; and ".join([variant.says] + [w for _, w in picks])
                    yield words, self._sum(coefficients, variant.values)

    def _whole(self):
        """(words, value) of the result off by one factor as a whole (every term of it)."""
        right = {t.name: t.weight for t in self.terms}
        if len([w for w in right.values() if w]) < 2:
            return
        for factor, kind in SCALES.items():
            if factor:
                yield _words("the whole result", kind, self.m), self._sum({n: w * factor for n, w in right.items()}, {})

    def _sum(self, coefficients: Mapping[str, float], replaced: Mapping[str, object]):
        total = 0.0
        for t in self.terms:
            c = coefficients[t.name]
            if c:
                total = total + c * np.asarray(replaced.get(t.name, t.value), dtype=np.float64)
        return np.asarray(total, dtype=np.float64) + 0.0 * np.asarray(self.terms[0].value, dtype=np.float64)


def mean_of_entries(units: int) -> dict[float, str]:
    """A squared-error term's scale when it is np.mean over every entry of an (units, m) error, not a mean over the
    m examples of a sum over the units: {1 / units: what that is, in words} (none for one unit)."""
    if units < 2:
        return {}
    return {
        1 / units: f"the squared error is averaged over all m x {units} entries (np.mean): it is the mean over the "
        f"m examples of the sum over the {units} output units"
    }


def _words(name: str, kind: str, m: int | None) -> str:
    return {
        "missing": f"{name} is missing",
        "twice": f"{name} is twice what it should be (a 1/2 missing, or a factor 2 too many)",
        "half": f"{name} is half what it should be (a factor 1/2 too many)",
        "sign": f"{name} has the wrong sign",
        "m": f"{name} is not divided by m = {m} (the 1/m is missing)",
        "1/m": f"{name} is divided by m = {m} once too often",
    }[kind]
