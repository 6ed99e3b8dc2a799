"""Run a student's code in a child process that can reach nothing of the course.

``Sandbox`` starts ``python -I -S`` running ``sandbox_child.py``, sends it the cells that
define the student's functions, and hands back *proxies*: ordinary callables that send their
arguments over a pipe, run the student's function there, and return plain numbers (arrays
come back as ``.npy`` bytes read with ``allow_pickle=False``; nothing is unpickled). Arrays the
student modified in place are modified in place here too, and a random Generator advances here
as it did there, so the checks of ``autograder.checks`` run unchanged on a proxy.

Isolation, strongest available first (``isolation()`` says which one is in use):

* ``namespaces`` — ``unshare`` (util-linux) gives the child its own mount, network, PID, IPC
  and UTS namespaces (and, when the grader is not root, a user namespace of its own, where the
  grader's user id is root); the launcher builds a read-only root file system of bind mounts
  of the system and of the Python installation only (no course, no gradebook, no home, no
  ``autograder``, even where a non-editable install put it in a site directory: ``policy.hidden_packages``;
  of ``/etc`` only ``policy.ETC``, with a passwd and group that name no user of the machine) with an empty
  ``/tmp``, the only place it can write, makes it the root with
  ``pivot_root`` (the machine's root is unmounted from the namespace), sets resource limits and
  drops every capability for good (as root, to a user id of its own too), so that it can never
  mount or chroot again. No network, no other process is visible, and every process the student
  starts dies with the child. ``namespaced`` builds the command (nbgrader's kernels start
  through it too: autograder.kernel).
* ``limits`` — where namespaces are not allowed (no util-linux, or a kernel that refuses user
  namespaces to users other than root): the same child with resource limits, a scrubbed
  environment and a fresh temporary directory, but the file system is visible (see
  docs/threat-model.md; ``fallback_reason()`` says why and what it means).

In both, stdin is closed and stdout/stderr are discarded; the child's CPU time, memory, file
size, open files and processes are limited, and each call has a wall-clock budget after which
the child and everything it started are killed (the next call starts a new child).

The parts, mechanism apart from policy (as bubblewrap's command line is apart from the script that
writes it):

* ``sandbox_policy``: what this course lets student code see and use (the view, the environment);
* ``namespaced`` and ``sandbox_launcher``: the mechanism that applies it (the launcher is a program of
  its own, read as text and run by a bare ``python -I -S`` in the new namespaces: it imports nothing);
* ``Sandbox``: the child's life cycle and the timed exchange with it; ``Hangs``: what a hang costs from
  then on; ``Proxy``: the student's function as the checks call it; ``sandbox_child``: the child's side
  of the wire;
* ``host``: what this machine allows (the probes), and ``probe()`` here, which starts a sandbox.
"""

from __future__ import annotations

import functools
import json
import os
import select
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from . import host
from . import sandbox_child as wire
from . import sandbox_launcher as launcher
from . import sandbox_policy as policy

CHILD_SOURCE = Path(wire.__file__).read_text()


@dataclass
class Limits:
    """Resource limits of one sandboxed child."""

    call_seconds: float = 10.0  # wall clock per call
    # wall clock per call once the student's code has hung in this sandbox (a call ran past its budget):
    # a correct function answers the checks' small inputs in milliseconds, and a student whose every
    # function hangs is graded in minutes, not one call budget per test cell
    after_hang_seconds: float = 2.0
    # wall clock to start a child and run the cells (Python, NumPy, the student's imports): at least
    # this, so that a short call budget is never spent on a start slowed by a loaded machine
    start_seconds: float = 30.0
    cpu_seconds: int = 120  # CPU time of the child in all
    memory_bytes: int = 2 * 2**30  # address space
    file_bytes: int = 16 * 2**20  # largest file it may write (in its own /tmp)
    processes: int = 32  # processes and threads of its user id
    open_files: int = 64


@dataclass
class Hangs:
    """The hang policy of one sandbox: what the student's code that ran past its budget costs from then on.

    * ``cells``: why the notebook's cells are not run again ("" until they hang): each new child would wait
      the same hang out;
    * ``calls``: calls that ran past their budget; from the first, each call gets ``Limits.after_hang_seconds``
      (a function that hung on one input is still called on the next, as a notebook runs the next cell);
    * ``in_cell``: {function: how it hung} since the test cell began (``new_cell``; None outside one). Such a
      function is not waited for again in that cell: its later calls there fail at once. Other functions are
      still called (a check may judge a part on the reference where the student's other part fails).
    """

    limits: Limits
    cells: str = ""
    calls: int = 0
    in_cell: dict[str, str] | None = None

    def new_cell(self) -> None:
        self.in_cell = {}

    def before_start(self) -> None:
        if self.cells:
            raise StudentCodeTimeout(self.cells)

    def cells_hung(self, error: StudentCodeTimeout) -> StudentCodeTimeout:
        self.cells = f"{error} while your cells ran (they are not run again)"
        return StudentCodeTimeout(self.cells)

    def budget(self, name: str) -> float | None:
        """The call's budget (None: Limits.call_seconds); a StudentCodeTimeout if name hung in this cell."""
        if self.in_cell and name in self.in_cell:  # it would only spend another budget
            raise StudentCodeTimeout(f"{HUNG} its budget earlier in this cell ({self.in_cell[name]}): not called again")
        return min(self.limits.call_seconds, self.limits.after_hang_seconds) if self.calls else None

    def call_hung(self, name: str, error: StudentCodeTimeout, budget: float | None) -> StudentCodeTimeout:
        self.calls += 1
        if self.in_cell is not None:
            self.in_cell[name] = str(error)
        if budget is not None:
            return StudentCodeTimeout(f"{error} (your code had hung before: later calls get {budget:g} s)")
        return error


#: How a call that ran past its budget is said to the student (the words only: a hang is known by its type,
#: StudentCodeTimeout, and by its kind, Trouble.TIMEOUT, never by these words).
HUNG = "took longer than"


class Trouble(StrEnum):
    """What went wrong with the student's code, beyond its message: carried by the exceptions below, on the wire
    from the child (``"kind"``) and into the verdicts. A message's words are for people; this is for code."""

    TIMEOUT = "timeout"  # a call (or the cells) ran past its budget and was stopped
    NOT_YOURS = "not_yours"  # the name is not a function an answer cell defined (tanh = np.tanh)


class StudentCodeError(Exception):
    """The student's code failed in the sandbox (raised, died, timed out); the message says how."""

    kind: Trouble | None = None


class StudentCodeTimeout(StudentCodeError):
    """The student's code ran past its budget and was stopped."""

    kind = Trouble.TIMEOUT


class NotYours(StudentCodeError):
    """The name called is not a function that an answer cell of the notebook defined."""

    kind = Trouble.NOT_YOURS


# --------------------------------------------------------------------------- the launcher

#: The launcher's source (autograder/sandbox_launcher.py), run by ``python -I -S -c`` as root inside fresh
#: namespaces: a file of its own, read as text, as the child's is.
LAUNCHER = Path(launcher.__file__).read_text()


def _rlimits(limits: Limits) -> dict[str, int]:
    return {
        "RLIMIT_CPU": limits.cpu_seconds,
        "RLIMIT_AS": limits.memory_bytes,
        "RLIMIT_FSIZE": limits.file_bytes,
        "RLIMIT_NPROC": limits.processes,
        "RLIMIT_NOFILE": limits.open_files,
        "RLIMIT_CORE": 0,
    }


def namespaced(
    argv: list[str],
    env: dict[str, str],
    limits: dict[str, int],
    root: Path,
    view: policy.View,
    *,
    scratch: list[tuple[str, str, str, list[str]]] = (),
    cwd: str = "/tmp",
    quiet: bool = False,
) -> list[str]:
    """The command that runs argv in namespaces of its own, through LAUNCHER (see the module): the mechanism,
    given what to apply (view, limits: the course's policy, autograder.sandbox_policy).

    root: an empty folder, where its root file system is built. view: what it sees read-only and who it is
    there; scratch: (folder, path inside, tmpfs options, patterns) tuples, a tmpfs of that size with a copy of
    folder in it but the files that match patterns, the only places it writes besides its own /tmp
    (what is written there is bounded, in memory, and thrown away; it is copied as the launcher, before
    it drops its rights). quiet: its stdin, stdout and stderr are /dev/null whatever it inherited.
    """
    root.mkdir(exist_ok=True)
    config = {
        "root": str(root),
        "binds": view.binds,
        "files": view.files,
        "hide": view.hide,
        "scratch": [list(t) for t in scratch],
        "cwd": cwd,
        "quiet": quiet,
        "limits": limits,
        "uid": view.uid,
        "argv": argv,
        "env": env,
    }
    userns = [] if host.real_root() else ["--user", "--map-root-user"]
    flags = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child", *userns]
    return ["unshare", *flags, "--", sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(config)]


#: What "limits" means, said after why it is in use.
LIMITS_MEAN = (
    "; student code in the isolated pass then runs with resource limits only, and can read every file "
    "the grader's user can (the course's reference solution included)"
)


@dataclass(frozen=True)
class Isolation:
    """The isolation this machine allows, and why not more."""

    mode: str  # "namespaces" (unshare works) or "limits" (see the module)
    reason: str = ""  # why "limits" ("" for "namespaces"), and what that means


@functools.cache
def probe() -> Isolation:
    """Which isolation this machine allows (probed once per process: a sandbox started and stopped)."""
    if os.environ.get("AUTOGRADER_SANDBOX") == "limits":
        return Isolation("limits", "AUTOGRADER_SANDBOX=limits" + LIMITS_MEAN)
    if not shutil.which("unshare"):
        return Isolation("limits", "no unshare command (util-linux)" + LIMITS_MEAN)
    if not host.real_root() and not host.user_namespaces():
        return Isolation(
            "limits",
            "this kernel refuses user namespaces to users other than root (`unshare --user` fails)"
            + LIMITS_MEAN
            + ". Grade as root, or allow unprivileged user namespaces, for the full sandbox",
        )
    try:
        box = Sandbox(limits=Limits(call_seconds=60), mode="namespaces")
        try:
            box.run_cells([{"id": "probe", "source": "import numpy", "student": False}])
        finally:
            box.close()
        return Isolation("namespaces")
    except (StudentCodeError, OSError) as error:
        return Isolation("limits", f"a sandbox with namespaces could not start ({error})" + LIMITS_MEAN)


def isolation() -> str:
    """Which isolation this machine allows: "namespaces" (unshare works) or "limits" (see the module)."""
    return probe().mode


def fallback_reason() -> str:
    """Why isolation() is "limits" ("" when it is not), and what that means."""
    return probe().reason


# --------------------------------------------------------------------------- the parent side


class Sandbox:
    """One student's code in a child process; ``function(name)`` is a proxy for one of its functions.

    Its parts: the child's life cycle (``_start``, ``close``: the cells are kept, and if the child dies or
    is killed, the next call starts a new one and runs them again); the timed exchange with it
    (``_request``: one request, the child's callbacks, a deadline); the hang policy (``hangs``, a Hangs);
    the proxies (``Proxy``), which turn the child's failures into the exceptions a notebook would see.
    """

    def __init__(self, limits: Limits | None = None, mode: str | None = None):
        self.limits = limits or Limits()
        self.mode = mode or isolation()
        self.cells: list[dict] = []
        self.cell_errors: dict[str, str] = {}
        self.hangs = Hangs(self.limits)
        self._proc: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # ---- life cycle

    def _start(self) -> None:
        self.hangs.before_start()  # cells that hung would hang again, a start budget each time
        self._tmp = tempfile.TemporaryDirectory(prefix="autograder-sandbox-")
        tmp = Path(self._tmp.name)
        child_r, parent_w = os.pipe()
        parent_r, child_w = os.pipe()
        child = [sys.executable, "-I", "-S", "-c", CHILD_SOURCE, str(child_r), str(child_w), *policy.site_dirs()]
        env = policy.child_env()
        if self.mode == "namespaces":
            cmd = namespaced(child, env, _rlimits(self.limits), tmp / "root", policy.view())
            preexec, cwd = None, "/"
        else:
            work = tmp / "work"
            work.mkdir()
            env["HOME"] = env["MPLCONFIGDIR"] = str(work)
            cmd, cwd = child, str(work)
            limits = _rlimits(self.limits)
            if not host.real_root():  # every process of this user counts: so many more than it runs now
                limits["RLIMIT_NPROC"] += host.tasks_of_user()

            preexec = functools.partial(launcher.apply_rlimits, limits)

        self._proc = subprocess.Popen(
            cmd,
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            pass_fds=(child_r, child_w),
            env=env,
            cwd=cwd,
            start_new_session=True,
            preexec_fn=preexec,
        )
        os.close(child_r)
        os.close(child_w)
        self._r, self._w = parent_r, parent_w
        if self.cells:
            self.cell_errors = self._exec({"op": "exec", "cells": self.cells}).get("errors", {})

    def _exec(self, request: dict) -> dict:
        """Run cells in the child; if they hang, they are never run again (each start would wait it out)."""
        try:
            return self._request(request, seconds=self._cells_seconds)[0]
        except StudentCodeTimeout as error:
            raise self.hangs.cells_hung(error) from None

    def close(self) -> None:
        """Kill the child and everything it started; remove its directory."""
        if self._proc is not None:
            for fd in (self._r, self._w):
                try:
                    os.close(fd)
                except OSError:
                    pass
            self._kill()
            self._proc.wait()
            self._proc = None
        if self._tmp is not None:
            self._tmp.cleanup()
            self._tmp = None

    def _kill(self) -> None:
        """SIGKILL the child and all it started. In its own PID namespace, the namespace's first process
        takes every other with it, those that left the process group (setsid) and cleared their
        parent-death signal included; outside one, the process group."""
        proc = self._proc
        if proc is None:
            return
        host.kill_children(proc.pid)
        try:
            os.killpg(proc.pid, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass

    def __enter__(self):
        return self

    def __exit__(self, *exc):
        self.close()

    # ---- requests

    @property
    def _cells_seconds(self) -> float:
        return max(self.limits.call_seconds, self.limits.start_seconds)

    def _request(
        self, header: dict, blobs=(), callbacks: list | None = None, seconds: float | None = None
    ) -> tuple[dict, list[bytes]]:
        """Send one request and answer the child's callbacks until its reply; kill it on any trouble."""
        seconds = seconds or self.limits.call_seconds
        deadline = time.monotonic() + seconds
        # The deadline holds wherever the exchange blocks (a child that sends half a reply, or stops
        # reading a large request): at the deadline the child is killed, and the pipe's end wakes us.
        # The select below is kept: waiting for a reply it needs no pipe's end (in "limits" mode a
        # process that left the process group may still hold the pipe open after the kill).
        expired = threading.Event()
        timer = threading.Timer(seconds, lambda: (expired.set(), self._kill()))
        timer.daemon = True
        timer.start()
        try:
            wire.send(self._w, header, blobs)
            while True:
                left = deadline - time.monotonic()
                if left <= 0 or not select.select([self._r], [], [], left)[0]:
                    raise TimeoutError
                reply, data = wire.receive(self._r)
                if not isinstance(reply, dict):
                    raise wire.WireError("a reply that is not a dict")
                if reply.get("op") != "callback":
                    return reply, data
                self._callback(reply, data, callbacks or [])
        except TimeoutError:
            self.close()
            raise StudentCodeTimeout(f"{HUNG} {seconds:g} s and was stopped") from None
        except (EOFError, OSError):
            try:  # the pipe closed as the process ended: its status says how
                code = self._proc.wait(timeout=2) if self._proc else None
            except subprocess.TimeoutExpired:
                code = None
            self.close()
            if expired.is_set():
                raise StudentCodeTimeout(f"{HUNG} {seconds:g} s and was stopped") from None
            raise StudentCodeError(_death(code)) from None
        except Exception as error:  # anything else the child sent us: refused, whatever it was
            self.close()
            raise StudentCodeError(f"sent back something that is not numbers ({type(error).__name__})") from None
        finally:
            timer.cancel()
            timer.join()
            if expired.is_set() and self._proc is not None:  # killed as its reply came: start anew next time
                self.close()

    def _callback(self, request: dict, data: list[bytes], callbacks: list) -> None:
        """The child calls one of our functions (a J handed to the student's numerical_gradient)."""
        try:
            args = wire.decode(request["args"], data)
            kwargs = wire.decode(request["kwargs"], data) if "kwargs" in request else {}
            if not isinstance(args, list) or not isinstance(kwargs, dict):
                raise wire.WireError("malformed call")
            result = callbacks[int(request["id"])](*args, **kwargs)
            out: list[bytes] = []
            wire.send(self._w, {"result": wire.encode(result, out)}, out)
        except wire.WireError:
            raise
        except Exception as error:
            wire.send(self._w, {"error": f"{type(error).__name__}: {error}"})

    def run_cells(self, cells: list[dict]) -> dict[str, str]:
        """Execute cells ({"id", "source", "student"}) in order; {cell id: error} for those that raised.

        A failing cell does not stop the next (as in a notebook); a child that dies or hangs
        while running them raises StudentCodeError.
        """
        self.cells.extend(cells)
        if self._proc is None:
            self._start()
            return self.cell_errors
        errors = self._exec({"op": "exec", "cells": cells}).get("errors", {})
        self.cell_errors.update(errors)
        return errors

    def new_cell(self) -> None:
        """A new test cell begins: its calls are waited for again (see Hangs)."""
        self.hangs.new_cell()

    def call(self, name: str, *args, **kwargs):
        """Call the student's function name in the child; raise StudentCodeError if it fails."""
        return self.call_with(name, None, *args, **kwargs)

    def call_with(self, name: str, substitute: dict | None, *args, **kwargs):
        """``call``, with the notebook's functions named in substitute ({name: our function}) replaced by ours for
        this call (the child calls them back)."""
        budget = self.hangs.budget(name)
        if self._proc is None:
            self._start()
        blobs: list[bytes] = []
        callbacks: list = []
        header = {
            "op": "call",
            "name": name,
            "args": wire.encode(list(args), blobs, callbacks),
            "kwargs": wire.encode(kwargs, blobs, callbacks),
        }
        if substitute:
            header["substitute"] = wire.encode(substitute, blobs, callbacks)
        try:
            reply, data = self._request(header, blobs, callbacks, seconds=budget)
        except StudentCodeTimeout as error:
            raise self.hangs.call_hung(name, error, budget) from None
        if "error" in reply:
            raise (NotYours if reply.get("kind") == Trouble.NOT_YOURS.value else StudentCodeError)(reply["error"])
        try:
            result = wire.decode(reply["result"], data)
            after = [wire.decode(t, data) for t in reply.get("after", [])]
        except Exception as error:  # WireError, or a tree that does not fit its blobs
            self.close()
            raise StudentCodeError(f"sent back something that is not numbers ({error})") from None
        _mirror(wire.arrays_and_generators([list(args), kwargs], []), after)
        return result

    def function(self, name: str) -> Proxy:
        """A callable that stands for the student's function name (see ``Proxy``)."""
        return Proxy(self, name)

    def names(self, name: str) -> dict:
        """The child's reply to "which names does name's code use" (see Proxy.code_names)."""
        if self._proc is None:
            self._start()
        return self._request({"op": "names", "name": name})[0]


class Proxy:
    """The student's function ``name``, run in a Sandbox: called as theirs would be, it sends its arguments to
    the child and returns plain numbers (``Sandbox.call``).

    When the student's function raised a built-in exception, the proxy raises the same type with the same
    message (so ``checks.run`` reports "sigmoid raised ValueError: …" as it would in the notebook); anything
    else becomes a StudentError, whose ``kind`` says a hang or a library's function under the student's name.
    """

    def __init__(self, box: Sandbox, name: str):
        self._box = box
        self.__name__ = self.__qualname__ = name
        self.__doc__ = f"The student's {name}, run in the sandbox."

    def __call__(self, *args, **kwargs):
        return self._called(None, args, kwargs)

    def __repr__(self) -> str:  # as the student's function would be shown in a message
        return f"<function {self.__name__}>"

    def __copy__(self) -> Proxy:  # a function is copied as itself
        return self

    def __deepcopy__(self, memo) -> Proxy:
        return self

    def _called(self, substitute: dict | None, args, kwargs):
        try:
            return self._box.call_with(self.__name__, substitute, *args, **kwargs)
        except StudentCodeError as error:
            raise _as_exception(str(error), error.kind) from None

    def with_globals(self, **substitute):
        """The student's function with the notebook's functions named here replaced by these (ours)."""

        def substituted(*args, **kwargs):
            return self._called(substitute, args, kwargs)

        substituted.__name__ = substituted.__qualname__ = self.__name__
        return substituted

    def code_names(self) -> set[str] | None:
        """The names its code uses (see autograder.checks.code_names); None if it is not the student's."""
        reply = self._box.names(self.__name__)
        if "error" in reply:
            kind = Trouble.NOT_YOURS if reply.get("kind") == Trouble.NOT_YOURS.value else None
            raise _as_exception(str(reply["error"]), kind)
        names = reply.get("names")
        if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
            return None
        return set(names)


class StudentError(RuntimeError):
    """What a proxy raises when the student's function failed in the sandbox in a way of its own; ``kind`` says
    which way, when it is one the grader acts on (a hang, a library's function under the student's name)."""

    def __init__(self, message: str = "", kind: Trouble | None = None):
        super().__init__(message)
        self.kind = kind


def trouble(error: BaseException | None) -> Trouble | None:
    """The kind of the student's trouble that caused error, if any: error's own, or that of an exception it was
    raised from or while handling (a check's CheckFailure about a call that hung), the nearest first."""
    seen: set[int] = set()
    while error is not None and id(error) not in seen:
        seen.add(id(error))
        kind = getattr(error, "kind", None)
        if isinstance(kind, Trouble):
            return kind
        error = error.__cause__ or error.__context__
    return None


def _as_exception(message: str, kind: Trouble | None = None) -> Exception:
    """The child's "Type: message" as an exception of that built-in type if there is one, else a StudentError
    (always one when kind says how the code failed)."""
    import builtins

    name, _, text = message.partition(": ")
    cls = getattr(builtins, name, None) if name.isidentifier() and kind is None else None
    if isinstance(cls, type) and issubclass(cls, Exception) and cls.__module__ == "builtins":
        try:
            return cls(text) if text else cls()
        except TypeError:  # exception types with required arguments (UnicodeDecodeError…)
            pass
    return StudentError(message, kind)


def _mirror(mine: list, theirs: list) -> None:
    """Apply the child's in-place changes of array arguments and Generators to ours."""
    import numpy as np

    for a, b in zip(mine, theirs):
        if isinstance(a, np.random.Generator) and isinstance(b, np.random.Generator):
            a.bit_generator.state = b.bit_generator.state
        elif isinstance(a, np.ndarray) and isinstance(b, np.ndarray) and a.shape == b.shape and a.flags.writeable:
            if not np.array_equal(a, b, equal_nan=True):
                np.copyto(a, b, casting="unsafe")


def _death(code: int | None) -> str:
    if code is not None and code < 0:
        name = signal.Signals(-code).name
        why = {
            "SIGXCPU": "it used up its CPU time",
            "SIGKILL": "it was killed (out of memory, or too many processes)",
            "SIGSEGV": "it crashed (segmentation fault)",
            "SIGXFSZ": "it wrote a file larger than allowed",
        }.get(name, "")
        return f"the process running it died on {name}" + (f": {why}" if why else "")
    if code is not None:
        return f"the process running it exited with status {code} (sys.exit or os._exit in the code)"
    return "the process running it died"
