"""Checks that the assignments' hidden tests call, written once for all notebooks.

A hidden test cell is one line, for example::

    from autograder.checks import activations
    activations.check_sigmoid_values(sigmoid)

Each ``check_*`` calls the student's function on seeded instances (private
copies of the inputs), compares the result with the reference solution or
with central finite differences of the reference cost, and raises
``CheckFailure`` (an ``AssertionError``) with a message a student can act on:
which part, the largest differing entry, the ratio to the expected value and,
when the error matches a known bug, its name.

Rules every check follows (``CONVENTIONS.md`` at the repository root says why):

* student code runs inside ``quiet()``: a RuntimeWarning from correct but
  naive code (``1/(1+np.exp(-z))`` at z = -1000) must not reach stderr, since
  nbgrader gives 0 to a test cell that writes to stderr;
* results are converted with ``as_floats``: lists, tuples, NumPy or Python
  scalars are all fine; objects that fake comparisons are reduced to their
  numbers first, and NaN never passes (``error <= tol`` is False for NaN);
* inputs are handed over as copies and checked unchanged afterwards.

One module per assignment: ``activations`` (01), ``forward`` (02),
``backprop`` (03), ``gradcheck`` (04), ``sparse`` (05), ``visualization`` (06).
"""

from __future__ import annotations

import contextlib
import contextvars
import copy
import os
import sysconfig
import types
import warnings
from collections.abc import Callable, Iterable
from pathlib import Path

import numpy as np

from .. import reference
from ..sandbox_child import where

__all__ = [
    "CheckFailure",
    "quiet",
    "run",
    "call",
    "yours",
    "varies",
    "on_reference",
    "as_floats",
    "compare",
    "finite_differences",
    "reference",
]


class CheckFailure(AssertionError):
    """A hidden test failed; the message says what is wrong in the student's terms."""


@contextlib.contextmanager
def quiet():
    """Silence warnings and floating-point error reports while student code runs."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        with np.errstate(all="ignore"):
            yield


def _same(a, b) -> bool:
    """Deep equality of nested lists/tuples of arrays and scalars (NaN equal to NaN).

    A random Generator is meant to advance when used: any two count as equal.
    """
    if isinstance(a, np.random.Generator):
        return isinstance(b, np.random.Generator)
    if isinstance(a, (list, tuple)):
        return isinstance(b, (list, tuple)) and len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b))
    if isinstance(a, np.ndarray) or isinstance(b, np.ndarray):
        return np.array_equal(np.asarray(a), np.asarray(b), equal_nan=True)
    return a == b or (a != a and b != b)


def run(function: Callable, name: str, *args, **kwargs):
    """Call a student's function quietly; a missing function, a stub or a crash becomes a CheckFailure.

    The arguments are passed as they are: use ``call`` unless mutating them is judged elsewhere.
    """
    if not callable(function):
        raise CheckFailure(f"{name} is not a function: define it in its answer cell and run that cell")
    try:
        with quiet():
            return function(*args, **kwargs)
    except NotImplementedError:
        raise CheckFailure(f"{name} is not implemented yet (it still raises NotImplementedError)") from None
    except Exception as error:  # the student's bug: report it, with its line (in the sandbox, the child says it)
        # in the sandbox (a proxy's error) the child said where already
        mine = "" if hasattr(function, "with_globals") else where(error, _students)
        said = f"{name} raised {type(error).__name__}: {error}{mine}"
        raise CheckFailure(said + _shape_hint(str(error))) from None


#: Where the grader's and the libraries' code lives: a frame elsewhere is the student's (a notebook cell).
_LIBRARIES = tuple(
    {os.path.realpath(sysconfig.get_paths()[k]) for k in ("stdlib", "platstdlib", "purelib", "platlib")}
    | {str(Path(__file__).resolve().parents[1])}
)


def _students(filename: str) -> bool:
    """Whether a frame's file is the student's: not a library's nor ours, however it was imported (a link)."""
    return not filename.startswith("<frozen") and not os.path.realpath(filename).startswith(_LIBRARIES)


#: Words of NumPy's errors for arrays whose shapes do not fit together.
_SHAPE_ERRORS = ("mismatch in its core dimension", "could not be broadcast", "not aligned", "cannot reshape")


def _shape_hint(text: str) -> str:
    """For a shape error, the course's conventions, the usual cause (a port that keeps one example per row)."""
    if not any(words in text for words in _SHAPE_ERRORS):
        return ""
    if "cannot reshape" in text:
        return (
            "\n  the number of entries is not the one of the shape asked for: check the sizes (a slice that runs past "
            "the end, h and v swapped?)"
        )
    hint = (
        "\n  the shapes do not fit: a data matrix holds one example per column, X: (n, m); W[l]: (s_{l+2}, s_{l+1}), "
        "b[l]: (s_{l+2},)"
    )
    return hint


def code_names(function) -> set[str] | None:
    """The global and attribute names a function's code uses (``np.tanh(z)``: "np" and "tanh").

    The function itself, in the kernel; a sandbox proxy asks the child. None for what is not a
    Python function (a NumPy ufunc, a builtin).
    """
    ask = getattr(function, "code_names", None)
    if callable(ask):
        return ask()
    code = getattr(function, "__code__", None)
    if code is None:
        return None
    from ..sandbox_child import code_names as of_code

    return of_code(code)


def forbid(function: Callable, name: str, library: str) -> None:
    """CheckFailure if function is, or calls, the library function it is asked to write (np.tanh for tanh)."""
    if not callable(function):
        return  # run() says so
    try:
        names = code_names(function)
    except Exception:  # not defined, not the student's, a dead child: the call that follows says so
        return
    if names is None:
        raise CheckFailure(f"{name} is {library} itself: write {name} from its definition, as the notebook asks")
    if library.rsplit(".", 1)[-1] in names:
        raise CheckFailure(
            f"{name} calls {library} (or another library's {name}): write it from its definition, as the notebook asks"
        )


def call(function: Callable, name: str, *args, **kwargs):
    """``run`` on private copies of the arguments, then fail if the function modified any of them."""
    mine = copy.deepcopy((args, kwargs))
    theirs = copy.deepcopy((args, kwargs))
    result = run(function, name, *theirs[0], **theirs[1])
    if not _same(mine, theirs):
        raise CheckFailure(f"{name} modified one of its arguments in place: compute into new arrays instead")
    return result


#: The set that ``lean`` records into, in the ``leaning()`` block around a test cell; None outside one.
_LEANED: contextvars.ContextVar[set[str] | None] = contextvars.ContextVar("leaned", default=None)


def lean(basis: str) -> None:
    """Record that a check accepted a result on top of another part: a function ("kl_divergence": any of its
    parts pays) or a function and the checks of the parts that pay ("backprop:check_backprop_dW1,
    check_backprop_dW2"). The isolated pass (autograder.verdict._take_back) reads what a test cell leaned on
    (``leaning``) and takes the points back unless one of those parts lost points (else the student's function
    answered differently there: a function that counts its calls or knows its inputs must not unlock the part
    built on it). Outside a ``leaning()`` block (the hidden tests in nbgrader's kernel) nothing is kept."""
    found = _LEANED.get()
    if found is not None:
        found.add(basis)


@contextlib.contextmanager
def leaning():
    """``with leaning() as leaned:`` run checks; leaned is then the set of what they leaned on (``lean``)."""
    found: set[str] = set()
    token = _LEANED.set(found)
    try:
        yield found
    finally:
        _LEANED.reset(token)


def yours(function, name: str, *args, **kwargs):
    """The student's own function of another part called on copies, or None if it is missing or fails.

    A part built on another one (gradient_descent_step on backprop, sample_patches on
    normalize_patches) is also judged against what it gives with the student's version of that
    other part, so that one bug costs the points of one part.
    """
    if function is None:
        return None
    try:
        return call(function, name, *args, **kwargs)
    except CheckFailure:
        return None


def on_reference(function, **substitutes):
    """The student's function with the notebook's functions named here replaced by ours for its calls
    (``gradient_descent_step`` with ``backprop=reference.backprop``), or None if it is no Python function.

    A part built on another one whose student version raises is judged on the reference's version: one bug, one
    part. In the isolated pass the student's function lives in the sandbox, and ours are called back from there.
    """
    substitutes = {name: _bounded(f) for name, f in substitutes.items()}
    with_globals = getattr(function, "with_globals", None)
    if callable(with_globals):
        return with_globals(**substitutes)
    if not isinstance(function, types.FunctionType):
        return None
    out = types.FunctionType(
        function.__code__,
        {**function.__globals__, **substitutes},
        function.__name__,
        function.__defaults__,
        function.__closure__,
    )
    out.__kwdefaults__ = function.__kwdefaults__
    return out


#: The most numbers a substituted function of ours takes in one call (the student's code calls it, with any
#: arguments: a product of such arrays stays under about 1e8 operations).
SUBSTITUTE_ENTRIES = 10_000


def _bounded(function):
    """function, refusing arguments of more than SUBSTITUTE_ENTRIES numbers in all, or arrays of more than 2
    dimensions or a side over 500 (an outer product of two long vectors): the student's code calls it, and must not
    make the grader compute long or hold much."""

    def bounded(*args, **kwargs):
        arrays = _arrays([args, kwargs])
        too_many = sum(np.size(a) for a in arrays) > SUBSTITUTE_ENTRIES
        if too_many or len(arrays) > 64 or any(np.ndim(a) > 2 or max(np.shape(a), default=0) > 500 for a in arrays):
            raise ValueError(f"{function.__name__} is given more than {SUBSTITUTE_ENTRIES} numbers here")
        return function(*args, **kwargs)

    bounded.__name__ = function.__name__
    return bounded


def _arrays(value, depth: int = 0) -> list:
    """The arrays (and numbers) in nested lists, tuples and dicts of arguments."""
    if depth > 8:
        raise ValueError("arguments nested too deeply")
    if isinstance(value, dict):
        return [a for v in value.values() for a in _arrays(v, depth + 1)]
    if isinstance(value, (list, tuple)):
        return [a for v in value for a in _arrays(v, depth + 1)]
    return [value] if isinstance(value, (np.ndarray, np.generic, int, float)) else []


def varies(value) -> bool:
    """Whether a result of the student's other part is worth building on: finite numbers, not all equal.

    A constant one (a sigmoid that returns zeros, a backprop whose gradient is 0) would make a
    degenerate answer of the part built on it (a derivative of 0, a step that changes nothing) pass.
    """
    try:
        with quiet():
            a = np.asarray(value, dtype=np.float64)
    except (TypeError, ValueError, OverflowError):
        return False
    return a.size > 1 and bool(np.all(np.isfinite(a))) and float(np.ptp(a)) > 0


def as_floats(value, name: str, shape: tuple | None = None) -> np.ndarray:
    """The student's result as a plain float64 ndarray, with its shape checked.

    Accepts NumPy arrays (subclasses are reduced to their data), lists, tuples
    and Python or NumPy scalars.
    """
    try:
        with quiet():
            out = np.array(value, dtype=np.float64, subok=False)
    except (TypeError, ValueError, OverflowError) as error:
        raise CheckFailure(f"{name} should be numbers, got {type(value).__name__} ({error})") from None
    if shape is not None and out.shape != tuple(shape):
        hint = ""
        if out.ndim == 2 and out.shape == tuple(shape)[::-1]:
            hint = " (transposed? rows and columns are swapped)"
        elif out.size == int(np.prod(shape)):
            hint = " (same number of entries: check the reshape order or a missing axis)"
        raise CheckFailure(f"{name} has shape {out.shape}, expected {tuple(shape)}{hint}")
    return out


def _error(got: np.ndarray, expected: np.ndarray) -> float:
    """Relative error: largest |got - expected| over the largest |expected| (absolute if that is 0)."""
    scale = float(np.max(np.abs(expected))) if expected.size else 0.0
    diff = float(np.max(np.abs(got - expected))) if got.size else 0.0
    return diff / scale if scale > 0 else diff


def compare(
    name: str,
    got,
    expected,
    tol: float = 1e-7,
    bugs: dict[str, object] | None = None,
    what: str = "",
    also=None,
    basis: str = "",
    terms=None,
) -> None:
    """Pass if got equals expected to relative error tol; else raise a CheckFailure that explains.

    name: the part, in the notes' words ("dJ/dW1", "sigmoid(z)").
    bugs: {description of a known bug: the value that bug produces}; the first
      that the student's value matches (to tol) is named in the message.
    what: the instance, to print ("3 layers, tanh, m = 1").
    also: a value accepted too — what this part gives when built on the student's own function of
      another part (``yours``): a bug there is that part's to pay, not this one's again.
    basis: the name of that other function (recorded by ``lean`` when ``also`` is what passed).
    terms: the notes' terms of the result on this instance (``attribution.Terms``, or a function that makes
      them, called only on a failure): when no known bug matches, the simplest combination of them that the
      student's value equals is named.
    """
    expected = np.asarray(expected, dtype=np.float64)
    got = as_floats(got, name, expected.shape)
    if also is not None:
        also = np.asarray(also, dtype=np.float64)
        if also.shape == got.shape and np.all(np.isfinite(also)) and _error(got, also) <= tol:
            if _error(got, expected) > tol:
                lean(basis)
            return
    where = f" on {what}" if what else ""
    if not np.all(np.isfinite(got)) and np.all(np.isfinite(expected)):
        bad = np.argwhere(~np.isfinite(got))[0]
        hint = getattr(terms() if callable(terms) else terms, "nan_hint", "")
        raise CheckFailure(
            f"{name}{where} contains {got[tuple(bad)]} at index {tuple(int(i) for i in bad)}: "
            + (hint or "look for an overflow (exp of a large number) or a division by zero")
        )
    err = _error(got, expected)
    if err <= tol:  # False for NaN
        return
    lines = [f"{name} is wrong{where}: relative error {err:.2e} (tolerance {tol:.0e})."]
    if expected.size:
        idx = np.unravel_index(int(np.argmax(np.abs(got - expected))), expected.shape)
        g, e = float(got[idx]), float(expected[idx])
        at = f"[{', '.join(str(int(i)) for i in idx)}]" if expected.ndim else ""
        ratio = f" (ratio {g / e:.4g})" if e != 0 else ""
        lines.append(f"  largest difference at {name}{at}: got {g:.6g}, expected {e:.6g}{ratio}")
        nonzero = np.abs(expected) > 1e-12 * max(np.max(np.abs(expected)), 1e-300)
        if np.count_nonzero(nonzero) > 1:
            ratios = got[nonzero] / expected[nonzero]
            if np.ptp(ratios) <= 1e-6 * max(abs(ratios.mean()), 1.0):
                lines.append(f"  every entry is {ratios.mean():.4g} times the expected one: a missing or extra factor")
            elif _error(np.abs(got), np.abs(expected)) <= tol:
                flipped = np.sign(got) != np.sign(expected)
                side = "negative" if np.all(expected[flipped] < 0) else "of either sign"
                lines.append(
                    f"  every entry has the right size, but {np.count_nonzero(flipped)} of {got.size} have the wrong "
                    f"sign (where the expected value is {side}): is the sign of the input lost (abs, a square)?"
                )
    named = next((bug for bug, value in (bugs or {}).items() if _is(got, value, expected, tol)), None)
    if named is None and terms is not None:
        named = (terms() if callable(terms) else terms).explain(got, tol)
    if named is not None:
        lines.append(f"  this is what happens when {named}")
    raise CheckFailure("\n".join(lines))


def _is(got: np.ndarray, value, expected: np.ndarray, tol: float) -> bool:
    """Whether got is a bug's value (to tol), one that differs from the right one."""
    value = np.asarray(value, dtype=np.float64)
    return value.shape == got.shape and _error(got, value) <= max(tol, 1e-9) and _error(value, expected) > tol


def finite_differences(J: Callable[[np.ndarray], float], theta, epsilon: float = 1e-5) -> np.ndarray:
    """Central differences of the *reference* cost J at theta (notes §2.3), the hidden tests' yardstick."""
    return reference.numerical_gradient(J, theta, epsilon)


def check_scalar(
    name: str,
    got,
    expected: float,
    tol: float = 1e-9,
    bugs: dict | None = None,
    what: str = "",
    also=None,
    basis: str = "",
    terms=None,
) -> None:
    """compare() for a single number; accepts Python floats, NumPy scalars and 0-d or 1-element arrays."""
    value = as_floats(got, name)
    if value.size != 1:
        raise CheckFailure(f"{name} should be a single number, got an array of shape {value.shape}")
    also = np.reshape(also, ()) if also is not None and np.size(also) == 1 else None  # ours: a float
    compare(name, value.reshape(()), expected, tol, bugs, what, also, basis, terms)


def seeds(n: int, base: int) -> Iterable[np.random.Generator]:
    """n independent, reproducible generators for one check."""
    return (np.random.default_rng([base, k]) for k in range(n))
