"""Hidden-test checks of assignment 01 (activations, notes §2)."""

from __future__ import annotations

import numpy as np

from . import as_floats, call, compare, forbid, quiet, reference, varies, yours

#: z values where a naive formula overflows (exp(1000) = inf) yet the answer is exact.
EXTREME_Z = np.array([-1000.0, -745.0, -100.0, -40.0, 0.0, 40.0, 100.0, 745.0, 1000.0])
#: Large z for the derivatives, still below exp's overflow (709), so that a derivative written
#: correctly on top of a naive sigmoid or tanh loses no points for the other function's flaw.
LARGE_Z = np.array([-100.0, -40.0, -10.0, 0.0, 10.0, 40.0, 100.0])


def _grids():
    """(description, z) instances: a 2-D grid, a 0-d array, a Python float, a 3-D block."""
    rng = np.random.default_rng(101)
    yield "a (3, 4) array", rng.uniform(-8, 8, (3, 4))
    yield "a 0-d array", np.array(0.7)
    yield "the Python float -2.5", -2.5
    yield "a (2, 3, 2) array", rng.normal(0, 3, (2, 3, 2))


def _judge(name, out, z, ref, what, bugs_of=None, built_on=None):
    """compare() of name(z) with the reference; with built_on, also with what the student's own f gives."""
    compare(
        f"{name}(z)",
        out,
        ref(z),
        tol=1e-12,
        bugs=bugs_of(np.asarray(z, dtype=float)) if bugs_of else None,
        what=what,
        also=built_on(z) if built_on else None,
        basis=getattr(built_on, "basis", ""),
    )


def _check_values(function, name, ref, bugs_of, built_on=None):
    for what, z in _grids():
        _judge(name, call(function, name, z), z, ref, what, bugs_of, built_on)


def _check_extremes(function, name, ref, z=EXTREME_Z, built_on=None, bugs_of=None):
    out = as_floats(call(function, name, z), f"{name}(z)", z.shape)
    _judge(name, out, z, ref, f"z = {z.tolist()}", bugs_of, built_on)


def _derivative_of(f, name, formula):
    """z -> formula(the student's own f(z)): a derivative right on top of a wrong f costs f's part only."""

    failed = []  # a failing (or hanging) f is called once, not once per instance

    def derivative(z):
        value = None if failed else yours(f, name, z)
        if value is None:
            failed.append(True)
        elif np.size(z) > 1 and not varies(value):
            value = None  # a constant f (zeros, say): its "derivative" would be a constant too
        try:
            with quiet():
                return None if value is None else formula(np.asarray(value, dtype=float))
        except (TypeError, ValueError, OverflowError):
            return None

    derivative.basis = name
    return derivative


def _sigmoid_bugs(z):
    return {
        "the sign in exp is flipped: 1 / (1 + exp(z))": reference.sigmoid(-z),
        "tanh was used instead of the sigmoid": np.tanh(z),
    }


def check_sigmoid_values(sigmoid):
    """sigmoid(z) = 1 / (1 + exp(-z)) elementwise, any shape."""
    _check_values(sigmoid, "sigmoid", reference.sigmoid, _sigmoid_bugs)


def check_sigmoid_extremes(sigmoid):
    """sigmoid is exact and finite for |z| up to 1000 (0 and 1 at the ends, no NaN)."""
    _check_extremes(sigmoid, "sigmoid", reference.sigmoid, bugs_of=_sigmoid_bugs)


def check_sigmoid_prime(sigmoid_prime, sigmoid=None):
    """sigmoid_prime(z) = f(z) (1 - f(z)), also at large z (with f the student's sigmoid, if given)."""
    built_on = _derivative_of(sigmoid, "sigmoid", lambda s: s * (1 - s)) if sigmoid is not None else None
    _check_values(
        sigmoid_prime,
        "sigmoid_prime",
        reference.sigmoid_prime,
        lambda z: {
            "f'(z) is computed as z (1 - z) instead of f(z) (1 - f(z))": z * (1 - z),
            "f'(z) is computed as f(z) instead of f(z) (1 - f(z))": reference.sigmoid(z),
        },
        built_on,
    )
    _check_extremes(sigmoid_prime, "sigmoid_prime", reference.sigmoid_prime, LARGE_Z, built_on)


def _tanh_bugs(z):
    return {
        "the sigmoid was used instead of tanh": reference.sigmoid(z),
        "the numerator's sign is flipped: (e^-z - e^z) / (e^z + e^-z)": -np.tanh(z),
    }


def check_tanh_values(tanh):
    """tanh(z) = (e^z - e^-z) / (e^z + e^-z) elementwise, any shape, written without np.tanh."""
    forbid(tanh, "tanh", "np.tanh")
    _check_values(tanh, "tanh", reference.tanh, _tanh_bugs)


def check_tanh_extremes(tanh):
    """tanh is exact and finite for |z| up to 1000 (-1 and 1 at the ends, no NaN), written without np.tanh."""
    forbid(tanh, "tanh", "np.tanh")
    _check_extremes(tanh, "tanh", reference.tanh, bugs_of=_tanh_bugs)


def check_tanh_prime(tanh_prime, tanh=None):
    """tanh_prime(z) = 1 - tanh(z)^2, also at large z (with the student's tanh, if given)."""
    built_on = _derivative_of(tanh, "tanh", lambda t: 1 - t * t) if tanh is not None else None
    _check_values(
        tanh_prime,
        "tanh_prime",
        reference.tanh_prime,
        lambda z: {
            "f'(z) is computed as 1 - z^2 instead of 1 - f(z)^2": 1 - z * z,
            "f'(z) is computed as 1 - f(z) instead of 1 - f(z)^2": 1 - np.tanh(z),
            "the sigmoid's derivative f(z)(1 - f(z)) is used: tanh'(z) = 1 - tanh(z)^2": np.tanh(z) * (1 - np.tanh(z)),
        },
        built_on,
    )
    _check_extremes(tanh_prime, "tanh_prime", reference.tanh_prime, LARGE_Z, built_on)
