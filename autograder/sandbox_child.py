"""The two ends of the isolated pass's wire, and the program that runs a student's code.

This file is read as text and run with ``python -I -S -c`` inside the sandbox
(``autograder.sandbox``), where nothing of the course exists: it imports only the standard
library and NumPy, and it must never import ``autograder``. The grader imports the same file
as a module for the codec, so both ends speak exactly one protocol.

A message is an 8-byte length, a JSON header, then the binary blobs the header lists (each a
``.npy`` file, read back with ``allow_pickle=False``). Values are encoded as trees: lists,
tuples, ``None``, booleans, ints, strings, NumPy arrays and scalars of numbers, random
Generators (their state travels) and, from the grader only, functions (the sandbox calls them
back: a cost function J handed to a student's ``numerical_gradient`` stays with the grader).
Anything else a student's function returns is refused, never unpickled.
"""

from __future__ import annotations

import io
import json
import os
import struct
import sys

MAX_MESSAGE = 256 * 2**20  # bytes: a larger reply is refused, not read
# bytes of a message's JSON header (arrays travel as blobs beside it): parsing JSON takes many times
# its size in memory, so a header of empty lists as large as MAX_MESSAGE would cost the grader gigabytes
MAX_HEADER = 16 * 2**20
MAX_DEPTH = 32
WHERE_CHARS = 600  # the longest account of where a student's code raised (its line, the shapes on it)
NUMERIC_KINDS = "biuf"


class WireError(RuntimeError):
    """A message that does not follow the protocol (too large, malformed, a forbidden type)."""


# --------------------------------------------------------------------------- framing


def _read_exactly(fd: int, n: int) -> bytes:
    chunks, got = [], 0
    while got < n:
        chunk = os.read(fd, min(n - got, 1 << 20))
        if not chunk:
            raise EOFError("the other end closed the pipe")
        chunks.append(chunk)
        got += len(chunk)
    return b"".join(chunks)


def send(fd: int, header: dict, blobs: list[bytes] = ()) -> None:
    header = dict(header, blobs=[len(b) for b in blobs])
    head = json.dumps(header).encode()
    data = b"".join([struct.pack("<QQ", len(head), sum(map(len, blobs))), head, *blobs])
    view = memoryview(data)
    while view:
        view = view[os.write(fd, view) :]


def receive(fd: int) -> tuple[dict, list[bytes]]:
    head_len, body_len = struct.unpack("<QQ", _read_exactly(fd, 16))
    if head_len + body_len > MAX_MESSAGE or head_len > MAX_HEADER:
        raise WireError(f"a message of {head_len} + {body_len} bytes is over the limits ({MAX_HEADER}, {MAX_MESSAGE})")
    try:
        header = json.loads(_read_exactly(fd, head_len))
    except (ValueError, RecursionError) as error:  # UnicodeDecodeError and JSONDecodeError are ValueErrors
        raise WireError(f"a header that is not JSON ({type(error).__name__})") from None
    body = _read_exactly(fd, body_len)
    sizes = header.pop("blobs", []) if isinstance(header, dict) else None
    if not (isinstance(sizes, list) and all(type(n) is int and n >= 0 for n in sizes) and sum(sizes) == body_len):
        raise WireError("a header that is not a dict with the sizes of its blobs")
    blobs, at = [], 0
    for n in sizes:
        blobs.append(body[at : at + n])
        at += n
    return header, blobs


# --------------------------------------------------------------------------- values


def encode(value, blobs: list[bytes], callbacks: list | None = None, depth: int = 0):
    """A JSON tree for value; arrays go to blobs, functions to callbacks (grader side only)."""
    import numpy as np

    if depth > MAX_DEPTH:
        raise WireError("nested too deeply")
    if value is None or isinstance(value, (bool, str)):
        return {"t": "v", "v": value}
    if isinstance(value, int) and not isinstance(value, bool):
        return {"t": "v", "v": value}
    if isinstance(value, float):
        blobs.append(_npy(np.asarray(value, dtype=np.float64)))
        return {"t": "float", "b": len(blobs) - 1}
    if isinstance(value, (list, tuple)):
        return {"t": type(value).__name__, "v": [encode(v, blobs, callbacks, depth + 1) for v in value]}
    if isinstance(value, dict) and all(isinstance(k, str) for k in value):
        return {"t": "dict", "v": {k: encode(v, blobs, callbacks, depth + 1) for k, v in value.items()}}
    if isinstance(value, np.random.Generator):
        return {"t": "rng", "v": _state(value.bit_generator.state)}
    if isinstance(value, (np.ndarray, np.generic)):
        array = np.array(value, subok=False)
        if array.dtype.kind not in NUMERIC_KINDS:
            raise WireError(f"an array of {array.dtype} is not numbers")
        blobs.append(_npy(array))
        return {"t": "array" if isinstance(value, np.ndarray) else "scalar", "b": len(blobs) - 1}
    if callbacks is not None and callable(value):
        callbacks.append(value)
        return {"t": "callback", "v": len(callbacks) - 1}
    raise WireError(f"a {type(value).__name__} cannot be sent (only numbers, arrays, lists and tuples)")


def decode(tree, blobs: list[bytes], callback=None, depth: int = 0):
    """The value of a tree; ``callback(k)`` makes the function that stands for callback k."""
    import numpy as np

    if depth > MAX_DEPTH or not isinstance(tree, dict):
        raise WireError("malformed value")
    kind, v = tree.get("t"), tree.get("v")
    if kind == "v":
        if v is None or isinstance(v, (bool, int, str)):
            return v
        raise WireError("malformed value")
    if kind in ("list", "tuple"):
        items = [decode(x, blobs, callback, depth + 1) for x in v]
        return items if kind == "list" else tuple(items)
    if kind == "dict":
        return {str(k): decode(x, blobs, callback, depth + 1) for k, x in v.items()}
    if kind in ("array", "scalar", "float"):
        array = np.load(io.BytesIO(blobs[int(tree["b"])]), allow_pickle=False)
        if array.dtype.kind not in NUMERIC_KINDS:
            raise WireError(f"an array of {array.dtype} is not numbers")
        if kind == "float":
            return float(array)
        return array[()] if kind == "scalar" else array
    if kind == "rng":
        bit_generator = getattr(np.random, str(v["bit_generator"]))
        if not (isinstance(bit_generator, type) and issubclass(bit_generator, np.random.BitGenerator)):
            raise WireError("not a bit generator")
        generator = np.random.Generator(bit_generator())
        generator.bit_generator.state = v
        return generator
    if kind == "callback" and callback is not None:
        return callback(int(v))
    raise WireError(f"a value of kind {kind!r} is not accepted here")


def _npy(array) -> bytes:
    import numpy as np

    out = io.BytesIO()
    np.save(out, array, allow_pickle=False)
    return out.getvalue()


def _state(state: dict) -> dict:
    """A bit generator's state as plain JSON (ints stay ints)."""
    return json.loads(json.dumps(state, default=int))


def arrays_and_generators(value, out: list) -> list:
    """The mutable things of an argument tree, in order: ndarrays and Generators."""
    import numpy as np

    if isinstance(value, (list, tuple)):
        for v in value:
            arrays_and_generators(v, out)
    elif isinstance(value, dict):
        for v in value.values():
            arrays_and_generators(v, out)
    elif isinstance(value, (np.ndarray, np.random.Generator)):
        out.append(value)
    return out


# --------------------------------------------------------------------------- the sandboxed program


def _error_text(error: BaseException, mine=None) -> str:
    text = f"{type(error).__name__}: {error}"
    text = text if len(text) <= 1500 else text[:1500] + "…"
    return text + (where(error, mine) if mine is not None else "")


def where(error: BaseException, mine) -> str:
    """Where in the student's code error was raised: the line (of the last frame whose file ``mine`` accepts) and
    the shapes of the arrays it names, with the transpose a matrix product lacks ("did you mean W[l].T @ delta?").

    Reads the frame without running any of the student's code: only exact lists, tuples and ndarrays are looked at.
    """
    import linecache

    tb, found = error.__traceback__, None
    while tb is not None:
        if mine(tb.tb_frame.f_code.co_filename):
            found = tb
        tb = tb.tb_next
    if found is None:
        return ""
    line = linecache.getline(found.tb_frame.f_code.co_filename, found.tb_lineno).strip()
    out = f"\n  at line {found.tb_lineno} of your cell" + (f": {line[:200]}" if line else "")
    if len(line) > 2000:  # not worth parsing
        return out
    try:
        shapes, hint = _shapes(line, found.tb_frame)
    except BaseException:  # an odd line or frame: the line alone
        return out
    if shapes:
        out += "\n  there " + ", ".join(f"{name} has shape {shape}" for name, shape in shapes.items())
    out += f": did you mean {hint}?" if hint else ""
    return out if len(out) <= WHERE_CHARS else out[: WHERE_CHARS - 1] + "…"


def _shapes(line: str, frame) -> tuple[dict, str]:
    """({expression: shape} of the arrays a line names (x, W[l], W[0]), the matrix product that a transpose would
    fix, as text or "")."""
    import ast

    import numpy as np

    try:
        tree = ast.parse(line.rstrip(":") if line.startswith(("if ", "while ", "for ", "elif ")) else line)
    except SyntaxError:
        return {}, ""

    scopes = [d for d in (frame.f_locals, frame.f_globals) if type(d) is dict]  # a dict subclass could run code

    def lookup(name: str):
        return next((dict.__getitem__(d, name) for d in scopes if dict.__contains__(d, name)), None)

    def value(node):
        """(text, the array) of a name or a subscript of a list by a name or a number; (None, None) else."""
        if isinstance(node, ast.Name):
            v = lookup(node.id)
            return (node.id, v) if type(v) is np.ndarray else (None, None)
        if isinstance(node, ast.Subscript) and isinstance(node.value, ast.Name):
            base = lookup(node.value.id)
            index = node.slice
            if isinstance(index, ast.Name):
                i, label = lookup(index.id), index.id
            elif isinstance(index, ast.Constant):
                i, label = index.value, repr(index.value)
            else:
                return None, None
            if type(base) in (list, tuple) and type(i) is int and -len(base) <= i < len(base):
                v = base[i]
                return (f"{node.value.id}[{label}]", v) if type(v) is np.ndarray else (None, None)
        return None, None

    shapes, hint = {}, ""
    for node in ast.walk(tree):
        text, v = value(node)
        if text is not None and len(shapes) < 8:
            shapes.setdefault(text, tuple(v.shape))
        if isinstance(node, ast.BinOp) and isinstance(node.op, ast.MatMult) and not hint:
            (left, a), (right, b) = value(node.left), value(node.right)
            if left and right and a.ndim == 2 and b.ndim >= 1 and a.shape[1] != b.shape[0]:
                if a.shape[0] == b.shape[0]:
                    hint = f"{left}.T @ {right}"
                elif b.ndim == 2 and a.shape[1] == b.shape[1]:
                    hint = f"{left} @ {right}.T"
    return shapes, hint


class _NoPlots:
    """Stands for matplotlib here: graded functions compute, they don't draw, and the real
    import costs most of a second per student. Any attribute, any call: a no-op."""

    __path__: list = []

    def __init__(self, name: str = "matplotlib"):
        self.__name__ = name

    def __getattr__(self, name: str):
        if name.startswith("__"):
            raise AttributeError(name)
        return _NoPlots(f"{self.__name__}.{name}")

    def __call__(self, *args, **kwargs):
        return _NoPlots(self.__name__)

    def __iter__(self):
        return iter((_NoPlots(self.__name__), _NoPlots(self.__name__)))


def serve(rfd: int, wfd: int) -> None:
    """Execute cells and call functions on request until the pipe closes."""
    import linecache
    import types
    import warnings

    import numpy as np

    for name in ("matplotlib", "matplotlib.pyplot", "matplotlib.cm", "matplotlib.colors"):
        sys.modules[name] = _NoPlots(name)

    namespace: dict = {"__name__": "__main__", "__builtins__": __builtins__}
    student_files: set[str] = set()
    me = os.getpid()

    def only_me() -> None:
        """A process the student's code forked never answers: it leaves here, silently."""
        if os.getpid() != me:
            os._exit(0)

    def remote(k: int):
        def function(*args, **kwargs):
            blobs: list[bytes] = []
            header = {"op": "callback", "id": k, "args": encode(list(args), blobs), "kwargs": encode(kwargs, blobs)}
            send(wfd, header, blobs)
            header, reply = receive(rfd)
            if header.get("error"):
                raise RuntimeError(header["error"])
            return decode(header["result"], reply)

        return function

    while True:
        try:
            header, blobs = receive(rfd)
        except EOFError:
            return
        op = header.get("op")
        if op == "exec":
            errors = {}
            for cell in header["cells"]:
                filename = f"<cell {cell['id']}>"
                if cell.get("student"):
                    student_files.add(filename)
                    # the lines of a traceback through the student's code (autograder.sandbox_child.where)
                    linecache.cache[filename] = (len(cell["source"]), None, cell["source"].splitlines(True), filename)
                try:
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        exec(compile(cell["source"], filename, "exec"), namespace)
                except BaseException as error:  # SystemExit and KeyboardInterrupt included: keep serving
                    errors[cell["id"]] = _error_text(error)
                only_me()
            send(wfd, {"errors": errors})
        elif op in ("call", "names"):
            name = header["name"]
            function = namespace.get(name)
            reply: dict = {}
            out: list[bytes] = []
            if function is None:
                reply["error"] = f"NameError: {name} is not defined (its answer cell is missing or failed)"
            elif not isinstance(function, types.FunctionType) or function.__code__.co_filename not in student_files:
                where = getattr(getattr(function, "__code__", None), "co_filename", type(function).__name__)
                reply["error"] = f"NotYours: {name} was not defined by an answer cell of the notebook (but by {where})"
                reply["kind"] = "not_yours"  # autograder.sandbox.Trouble.NOT_YOURS
            elif op == "names":  # the global and attribute names its code uses (np.tanh: "np", "tanh")
                reply["names"] = sorted(code_names(function.__code__))
            else:
                try:
                    args = decode(header["args"], blobs, remote)
                    kwargs = decode(header["kwargs"], blobs, remote)
                    if "substitute" in header:  # other functions of the notebook replaced by the grader's
                        function = _substituted(function, namespace, decode(header["substitute"], blobs, remote))
                    with warnings.catch_warnings(), np.errstate(all="ignore"):
                        warnings.simplefilter("ignore")
                        result = function(*args, **kwargs)
                    reply["result"] = encode(result, out)
                    reply["after"] = [encode(v, out) for v in arrays_and_generators([args, kwargs], [])]
                except BaseException as error:
                    reply = {"error": _error_text(error, student_files.__contains__)}
                    out = []
                only_me()
            send(wfd, reply, out)
        else:
            send(wfd, {"error": f"unknown request {op!r}"})


def _substituted(function, namespace: dict, substitutes):
    """function with some of the names it reads from the notebook bound to other functions (the grader's callbacks:
    a step built on a backprop that raises is judged on the reference's backprop)."""
    import types

    if not isinstance(substitutes, dict) or not all(callable(f) for f in substitutes.values()):
        raise TypeError("substitutes must be functions")
    out = types.FunctionType(
        function.__code__, {**namespace, **substitutes}, function.__name__, function.__defaults__, function.__closure__
    )
    out.__kwdefaults__ = function.__kwdefaults__
    return out


def code_names(code) -> set[str]:
    """The names (globals, attributes) a code object and the functions defined in it use."""
    import types

    names = set(code.co_names)
    for const in code.co_consts:
        if isinstance(const, types.CodeType):
            names |= code_names(const)
    return names


if __name__ == "__main__":
    # argv: read fd, write fd, then the directories to import NumPy and friends from.
    sys.path[:0] = sys.argv[3:]
    serve(int(sys.argv[1]), int(sys.argv[2]))
