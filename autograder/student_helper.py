# The one source of the read-only "given_explain" cell of the assignment notebooks.
# Everything below the marker line is that cell, word for word: `python -m autograder release`
# copies it into source/ (then releases), and tests/test_student_helper.py fails when a copy differs.
# Students read it and have no autograder package: numpy only, plain words, no matrix dumps.
# ---- notebook cell ----
import numpy as np

# check_close's AssertionError: Jupyter shows its message alone (the diagnosis), not a traceback through this cell.
_Mismatch = type("AssertionError", (AssertionError,), {"_render_traceback_": lambda self: str(self).splitlines()})


def check_close(name, got, expected, rtol=1e-5, atol=1e-8, m=None, lambda_=None, W=None, b=None, where=""):
    """Assert that your result equals the expected one; if not, say in words what is wrong.

    name: what is compared ("a3", "J", "dW"); the blocks of a list are named dW[0], dW[1], ...
    got, expected: a number, an array, or a list of NumPy arrays (blocks: dW[0], dW[1], ...).
    It passes if the largest |got - expected| is at most atol + rtol * (the largest |expected|).
    m, lambda_, W, b (optional): the instance's number of examples, weight decay and parameters,
    so that the message can name a missing 1/m or a weight decay term that is missing, counted
    twice or applied to the biases. For a list, W (or b) is the list of the same blocks.
    where (optional): the instance, in words, put in front of the message.
    Blocks are checked from the last one (the output layer) back: an error in one layer's delta
    spreads to every earlier block, so the first wrong block from the output is where to look.
    """
    __tracebackhide__ = True  # pytest and IPython's debugger skip this function's frame
    said = f"{where}: " if where else ""
    blocks = isinstance(expected, (list, tuple)) and all(isinstance(e, np.ndarray) for e in expected)
    if not blocks:
        problem = _explain(name, got, expected, rtol, atol, m, _decay(expected, lambda_, W, b))
        if problem is not None:
            raise _Mismatch(said + problem)
        return
    n = len(expected)
    if not isinstance(got, (list, tuple)) or len(got) != n:
        length = f" of length {len(got)}" if hasattr(got, "__len__") else ""
        raise _Mismatch(f"{said}{name} should be a list of {n} arrays, got a {type(got).__name__}{length}")
    problems, right = {}, []
    for l in reversed(range(n)):  # from the output layer back
        decay = _decay(expected[l], lambda_, None if W is None else W[l], None if b is None else b[l])
        problem = _explain(f"{name}[{l}]", got[l], expected[l], rtol, atol, m, decay)
        if problem is None:
            right.append(f"{name}[{l}]")
        else:
            problems[f"{name}[{l}]"] = problem
    if problems:
        first, *others = problems
        order = f"\nFrom the output layer back: {', '.join(right) or 'no block'} right, {first} the first wrong one"
        also = f"; also wrong: {', '.join(others)}." if others else "."
        layer = f"\n({name}[l] is the block of the notes' layer l + 1: {name}[0] is layer 1)"
        raise _Mismatch(said + problems[first] + order + also + layer)


def raises(function, *args, **kwargs):
    """Whether function(*args, **kwargs) raises: a test of a part built on it then waits for it to be fixed
    (one bug costs one part; the hidden test judges that part on a function that works)."""
    try:
        function(*args, **kwargs)
    except Exception:
        return True
    return False


def _decay(expected, lambda_, W, b):
    """[(got - expected, what it means)] for the weight decay mistakes that W, b and lambda_ allow."""
    if lambda_ is None:
        return []
    scalar = np.ndim(expected) == 0  # a cost J, whose term is (lambda_ / 2) * (sum of the squares)
    out = []
    if W is not None:
        term = lambda_ / 2 * sum(np.sum(np.square(w)) for w in W) if scalar else lambda_ * np.asarray(W)
        what = "(lambda_ / 2) * sum(W**2)" if scalar else "lambda_ * W"
        out += [(-term, f"the weight decay term is missing (the difference is {what})")]
        out += [(term, f"the weight decay term is counted twice (the difference is {what})")]
    if b is not None:
        term = lambda_ / 2 * sum(np.sum(np.square(v)) for v in b) if scalar else lambda_ * np.asarray(b)
        what = "(lambda_ / 2) * sum(b**2)" if scalar else "lambda_ * b"
        out += [(term, f"weight decay is applied to the biases (the difference is {what}): only weights decay")]
    return out


def _factor(got, expected, m, close):
    """Words for "every entry is the same multiple of the expected one", or None."""
    k = np.argmax(np.abs(expected))
    ratio = got.flat[k] / expected.flat[k] if expected.flat[k] != 0 else np.nan
    if not np.isfinite(ratio) or np.isclose(ratio, 1) or not close(got, ratio * expected):
        return None
    it = "every entry is" if got.size > 1 else "it is"
    if ratio == 0:
        return f"{it} 0: is it computed at all?"
    if m and np.isclose(ratio, m):
        return f"{it} m = {m} times the expected value: the factor 1/m is missing"
    if m and np.isclose(ratio, 1 / m):
        return f"{it} 1/m = 1/{m} of the expected value: it is divided by m once too often"
    if np.isclose(ratio, -1):
        return f"{it} minus the expected value: a sign is flipped"
    if got.size > 1 or np.isclose(ratio, [2, 0.5]).any():  # any number is a multiple of another one
        return f"{it} {ratio:.6g} times the expected value: a factor is missing or extra"
    return None


def _explain(label, got, expected, rtol, atol, m, decay):
    """None if got matches expected, else a few lines saying what differs and what it looks like."""
    expected = np.asarray(expected, dtype=float)
    if not np.all(np.isfinite(expected)):  # the test computed it with another function of yours
        return f"the expected {label} contains nan or inf: it comes from another of your functions, fix that first"
    if got is None:
        return f"{label} is None: does your function return its result?"
    if np.iscomplexobj(got):
        return f"{label} has complex numbers: the results are real"
    try:
        got = np.asarray(got, dtype=float)
    except (TypeError, ValueError, OverflowError):
        return f"{label} should be numbers, got {type(got).__name__}"
    if expected.ndim == 0 and got.size == 1:
        got = got.reshape(())  # a number given as a 1-element array is fine
    scale = np.max(np.abs(expected), initial=0.0)

    def close(a, b):  # loose on purpose: recognizes a pattern, does not grade
        return np.max(np.abs(a - b), initial=0.0) <= 1e-5 * scale + 1e-12

    if got.shape != expected.shape:
        say = f"{label} has shape {got.shape}, expected {expected.shape}"
        if got.ndim == 2 and got.shape == expected.shape[::-1]:
            return say + ": rows and columns are swapped" + (", it is the transpose" if close(got.T, expected) else "")
        if got.size == expected.size and close(got.reshape(expected.shape), expected):
            return say + ": the entries are right, only the shape is wrong (a reshape, or (n,) against (n, 1)?)"
        if got.size == expected.size and close(got.reshape(expected.shape, order="F"), expected):
            return say + ": the entries are in column-major order; NumPy's ravel and reshape are row-major"
        return say
    if not np.all(np.isfinite(got)):
        k = np.unravel_index(np.argmax(~np.isfinite(got)), got.shape)
        return f"{label} contains {got[k]} at index {list(map(int, k))}: an overflow (exp of a big number?) or 0/0"
    diff = np.abs(got - expected)
    if np.max(diff, initial=0.0) <= atol + rtol * scale:
        return None
    k = np.unravel_index(np.argmax(diff), diff.shape)
    where = f"largest difference at {label}[{', '.join(str(int(i)) for i in k)}]: " if got.ndim else ""
    relative = f"relative error {diff.max() / scale:.1e}" if scale else f"error {diff.max():.1e}"
    allowed = (atol + rtol * scale) / (scale or 1)
    lines = [
        f"{label} is wrong: {relative} (allowed {allowed:.0e})",
        f"{where}got {got[k]:.8g}, expected {expected[k]:.8g}",
    ]
    # What the difference looks like: a factor (on the whole value, then on the value without its
    # weight decay term), a transpose, the right numbers in other places, a weight decay term.
    factor = _factor(got, expected, m, close)
    for shift, words in decay:
        if "twice" in words and not factor:  # shift is + the weight decay term: look at the rest alone
            rest = _factor(got - shift, expected - shift, m, close)
            factor = rest and "without the weight decay term, " + rest
    if factor:
        lines.append(factor)
    elif got.ndim == 2 and got.shape[0] == got.shape[1] > 1 and close(got, expected.T):
        lines.append("it is the transpose of the expected value: rows and columns are swapped")
    elif got.size > 1 and close(np.sort(got, axis=None), np.sort(expected, axis=None)):
        lines.append("the right numbers in the wrong places: a transpose, a reshape or ravel order, blocks swapped?")
    lines += [words for shift, words in decay if close(got - expected, shift)]
    if got.size > 1 and len(lines) == 2:
        bad = np.count_nonzero(diff > atol + rtol * scale)
        lines.append(
            f"{bad} of {got.size} entries differ, in no simple pattern (factor, sign, transpose, weight decay)"
        )
    return "\n  ".join(lines)
