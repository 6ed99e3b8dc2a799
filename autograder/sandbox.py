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
  grader's user id is root); the launcher below builds a read-only root file system of bind mounts
  of the system and of the Python installation only (no course, no gradebook, no home, no
  ``autograder``, even where a non-editable install put it in a site directory: ``hidden_packages``;
  of ``/etc`` only ``ETC``, with a passwd and group that name no user of the machine) with an empty
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

Why one module of this length: the launcher (source text run by a bare ``python -I -S`` in the new
namespaces, so it imports nothing of this package), the proxies' side of the wire protocol and the
isolation probe change together; split, a change to one would silently break another.
"""

from __future__ import annotations

import functools
import json
import os
import random
import select
import shutil
import signal
import site
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path

from . import sandbox_child as wire
from . import sandbox_launcher as launcher

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


def _site_dirs() -> list[str]:
    """Where NumPy (and the rest of the student environment) is installed, without .pth files.

    The grader's user site (~/.local/lib/...) only if NumPy is there: it is the grader's home.
    """
    import numpy

    dirs = [str(Path(numpy.__file__).resolve().parent.parent)]
    for d in site.getsitepackages():
        if Path(d).is_dir() and d not in dirs:
            dirs.append(d)
    return dirs


def child_env() -> dict[str, str]:
    """The environment of the sandbox's child (and of the sandboxed kernels: autograder.kernel)."""
    one = "1"
    return {
        "PATH": "/usr/bin:/bin",
        "HOME": "/tmp",
        "LANG": "C.UTF-8",
        "OPENBLAS_NUM_THREADS": one,
        "OMP_NUM_THREADS": one,
        "MKL_NUM_THREADS": one,
        "MPLBACKEND": "Agg",
        "MPLCONFIGDIR": "/tmp/matplotlib",
    }


def _rlimits(limits: Limits) -> dict[str, int]:
    return {
        "RLIMIT_CPU": limits.cpu_seconds,
        "RLIMIT_AS": limits.memory_bytes,
        "RLIMIT_FSIZE": limits.file_bytes,
        "RLIMIT_NPROC": limits.processes,
        "RLIMIT_NOFILE": limits.open_files,
        "RLIMIT_CORE": 0,
    }


#: Of the machine's /etc, what the sandbox sees: the dynamic loader's cache and configuration, the time
#: zone, Debian's alternatives (where a system NumPy finds its BLAS), the system Python's and Matplotlib's
#: own settings, fontconfig's (without it every Matplotlib import wrote "Fontconfig error: Cannot load default
#: config file" to stderr, into the student's feedback). Not the users (passwd and group are its own:
#: _etc_files), not the instructors' Jupyter and nbgrader configuration, not the host's names or anything else.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "matplotlibrc", "python3*", "fonts")


def _binds() -> list[str]:
    """What the sandbox sees, read-only: the system, the Python installation, the site directories."""
    etc = sorted(str(p) for pattern in ETC for p in Path("/etc").glob(pattern))
    paths = ["/usr", "/bin", "/lib", "/lib64", *etc, "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"]
    python = [sys.base_prefix, sys.prefix, *_site_dirs(), str(Path(sys.executable).parent)]
    for p in python:
        p = str(Path(p).resolve())
        if not _under(p, paths):
            paths.append(p)
    return [p for p in paths if os.path.lexists(p)]


def _under(path: str, folders: list[str]) -> bool:
    """Whether path is one of folders or lies inside one."""
    return any(path == q or path.startswith(q.rstrip("/") + "/") for q in folders)


def _etc_files(uid: int) -> dict[str, str]:
    """/etc/passwd and /etc/group as the sandbox sees them: root, nobody and its own user, no one else."""
    users = {"root": 0, "student": uid, "nobody": 65534} if uid else {"root": 0, "nobody": 65534}
    home = {"root": "/tmp", "student": "/tmp", "nobody": "/nonexistent"}
    return {
        "/etc/passwd": "".join(f"{n}:x:{i}:{i}:{n}:{home[n]}:/usr/sbin/nologin\n" for n, i in users.items()),
        "/etc/group": "".join(f"{n}:x:{i}:\n" for n, i in {**users, "nogroup": 65534}.items() if n != "nobody"),
    }


def hidden_packages(binds: list[str]) -> list[str]:
    """The folders of the grader's package (``autograder``: the reference solution, the checks) that lie in
    what the sandbox sees: after ``pip install .`` (not ``-e``), in a site directory it binds. The one
    running, and any other copy on this interpreter's path; the launcher covers each with an empty folder."""
    found = {str(Path(__file__).resolve().parent)}
    for entry in [*sys.path, *_site_dirs()]:
        candidate = Path(entry or ".") / __package__
        if (candidate / "reference.py").is_file():
            found.add(str(candidate.resolve()))
    return sorted(p for p in found if _under(p, binds))


def namespaced(
    argv: list[str],
    env: dict[str, str],
    limits: dict[str, int],
    root: Path,
    *,
    uid: int | None = None,
    binds: list[str] = (),
    scratch: list[tuple[str, str, str, list[str]]] = (),
    cwd: str = "/tmp",
    quiet: bool = False,
) -> list[str]:
    """The command that runs argv in namespaces of its own, through LAUNCHER (see the module).

    root: an empty folder, where its root file system is built. It sees _binds() and binds
    read-only, but the grader's package where it lies in them (hidden_packages) unless binds names it;
    scratch: (folder, path inside, tmpfs options, patterns) tuples, a tmpfs of that size with a copy of
    folder in it but the files that match patterns, the only places it writes besides its own /tmp
    (what is written there is bounded, in memory, and thrown away; it is copied as the launcher, before
    it drops its rights). uid: the user id it runs as when the grader is root (random by default).
    quiet: its stdin, stdout and stderr are /dev/null whatever it inherited.
    """
    root.mkdir(exist_ok=True)
    system = _binds()
    seen = [*system, *(b for b in binds if b not in system)]
    uid = (uid or random_uid()) if real_root() else 0
    config = {
        "root": str(root),
        "binds": seen,
        "files": _etc_files(uid),
        "hide": [h for h in hidden_packages(seen) if h not in binds],
        "scratch": [list(t) for t in scratch],
        "cwd": cwd,
        "quiet": quiet,
        "limits": limits,
        "uid": uid,
        "argv": argv,
        "env": env,
    }
    userns = [] if real_root() else ["--user", "--map-root-user"]
    flags = ["--mount", "--net", "--pid", "--ipc", "--uts", "--fork", "--kill-child", *userns]
    return ["unshare", *flags, "--", sys.executable, "-I", "-S", "-c", LAUNCHER, json.dumps(config)]


def random_uid() -> int:
    """A user id no one on the machine has: what a sandboxed child runs as when the grader is root."""
    return random.randrange(200_000, 2_000_000_000)


def real_root() -> bool:
    """Whether this process is root of the machine (not root of a user namespace, where few ids are mapped)."""
    if os.geteuid() != 0:
        return False
    try:
        return Path("/proc/self/uid_map").read_text().split() == ["0", "0", "4294967295"]
    except OSError:
        return True


@functools.cache
def user_namespaces() -> bool:
    """Whether this user may create user namespaces (some kernels refuse them to all but root)."""
    if not shutil.which("unshare"):
        return False
    try:
        probe = ["unshare", "--user", "--map-root-user", "true"]
        quiet = {"stdin": subprocess.DEVNULL, "stdout": subprocess.DEVNULL, "stderr": subprocess.DEVNULL}
        return subprocess.run(probe, timeout=30, **quiet).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def tasks_of_user() -> int:
    """How many processes and threads this user runs (what RLIMIT_NPROC counts outside a user namespace)."""
    tasks = 0
    for status in Path("/proc").glob("[0-9]*/status"):
        try:
            fields = dict(line.split(":", 1) for line in status.read_text().splitlines() if ":" in line)
            if int(fields["Uid"].split()[0]) == os.getuid():
                tasks += int(fields["Threads"])
        except (OSError, KeyError, ValueError, IndexError):
            continue
    return tasks


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
    if not real_root() and not user_namespaces():
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


def children(pid: int) -> list[int]:
    """The ids of a process's children, as /proc shows them (see in_proc)."""
    found = []
    for task in Path(f"/proc/{in_proc(pid)}/task").glob("*/children"):
        try:
            found += [int(child) for child in task.read_text().split()]
        except (OSError, ValueError):
            continue
    return found


def in_proc(pid: int) -> int:
    """The id under which /proc shows the process pid of this process's PID namespace.

    They differ where this process runs in a PID namespace of its own but sees the machine's /proc, as a
    grading worker does (autograder.grading.supervisor): there /proc/<pid> is another process. The
    process's pidfd says (its fdinfo's Pid, in /proc's namespace); where it cannot, pid as it is.
    """
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd here, or no such process
        return pid
    try:
        for line in Path(f"/proc/self/fdinfo/{fd}").read_text().splitlines():
            if line.startswith("Pid:") and int(line.split()[1]) > 0:
                return int(line.split()[1])
    except (OSError, ValueError, IndexError):
        pass
    finally:
        os.close(fd)
    return pid


def _from_proc(pid: int) -> int | None:
    """The id of this process's PID namespace of the process that /proc shows as pid (None: not in it)."""
    try:
        ours = _nspid("self")
        theirs = _nspid(str(pid))
    except (OSError, ValueError):
        return None
    return theirs[len(ours) - 1] if len(theirs) >= len(ours) else None


def _nspid(entry: str) -> list[int]:
    for line in Path(f"/proc/{entry}/status").read_text().splitlines():
        if line.startswith("NSpid:"):
            return [int(n) for n in line.split()[1:]]
    return [int(entry) if entry.isdigit() else os.getpid()]


def kill_children(pid: int) -> None:
    """SIGKILL the children of a process (unshare's: the first process of a PID namespace, whose end
    ends every other process in it, those that left the process group and cleared their
    parent-death signal included)."""
    for child in children(pid):
        ours = _from_proc(child)
        if ours is None:
            continue
        try:
            os.kill(ours, signal.SIGKILL)
        except (ProcessLookupError, PermissionError):
            pass


class Sandbox:
    """One student's code in a child process; ``function(name)`` is a proxy for one of its functions.

    The cells are kept: if the child dies or is killed, the next call starts a new one and runs
    them again. (A function that hung on one input is called again on the next: it may well
    work there, as in a notebook, where the next cell runs after a timeout; but from then on each
    call has ``Limits.after_hang_seconds``.) Within one test cell (``new_cell``), a function that hung
    is not waited for again: its later calls there fail at once (``cell_hung`` says which hung, and how).
    Other functions are still called: a check may judge a part on the reference where the student's
    own other part fails (checks.yours).
    """

    def __init__(self, limits: Limits | None = None, mode: str | None = None):
        self.limits = limits or Limits()
        self.mode = mode or isolation()
        self.cells: list[dict] = []
        self.cell_errors: dict[str, str] = {}
        self.hung = 0  # calls that ran past their budget
        self.cell_hung: dict[str, str] | None = None  # {function: how it hung} since new_cell(); None: no cell
        self._cells_hung = ""  # why the cells are not run again: they once ran past their budget
        self._proc: subprocess.Popen | None = None
        self._tmp: tempfile.TemporaryDirectory | None = None

    # ---- life cycle

    def _start(self) -> None:
        if self._cells_hung:  # they would hang again, a start budget each time
            raise StudentCodeTimeout(self._cells_hung)
        self._tmp = tempfile.TemporaryDirectory(prefix="autograder-sandbox-")
        tmp = Path(self._tmp.name)
        child_r, parent_w = os.pipe()
        parent_r, child_w = os.pipe()
        child = [sys.executable, "-I", "-S", "-c", CHILD_SOURCE, str(child_r), str(child_w), *_site_dirs()]
        env = child_env()
        if self.mode == "namespaces":
            cmd = namespaced(child, env, _rlimits(self.limits), tmp / "root")
            preexec, cwd = None, "/"
        else:
            work = tmp / "work"
            work.mkdir()
            env["HOME"] = env["MPLCONFIGDIR"] = str(work)
            cmd, cwd = child, str(work)
            limits = _rlimits(self.limits)
            if not real_root():  # every process of this user counts: so many more than it runs now
                limits["RLIMIT_NPROC"] += tasks_of_user()

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
            self._cells_hung = f"{error} while your cells ran (they are not run again)"
            raise StudentCodeTimeout(self._cells_hung) from None

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
        kill_children(proc.pid)
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
        """A new test cell begins: its calls are waited for again (see the class's docstring)."""
        self.cell_hung = {}

    def call(self, name: str, *args, **kwargs):
        """Call the student's function name in the child; raise StudentCodeError if it fails."""
        return self.call_with(name, None, *args, **kwargs)

    def call_with(self, name: str, substitute: dict | None, *args, **kwargs):
        """``call``, with the notebook's functions named in substitute ({name: our function}) replaced by ours for
        this call (the child calls them back)."""
        if self.cell_hung and name in self.cell_hung:  # it would only spend another budget
            raise StudentCodeTimeout(
                f"{HUNG} its budget earlier in this cell ({self.cell_hung[name]}): not called again"
            )
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
        budget = min(self.limits.call_seconds, self.limits.after_hang_seconds) if self.hung else None
        try:
            reply, data = self._request(header, blobs, callbacks, seconds=budget)
        except StudentCodeTimeout as error:
            self.hung += 1
            if self.cell_hung is not None:
                self.cell_hung[name] = str(error)
            if budget is not None:
                raise StudentCodeTimeout(f"{error} (your code had hung before: later calls get {budget:g} s)") from None
            raise
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

    def function(self, name: str):
        """A callable that stands for the student's function name (see ``call``).

        When the student's function raised a built-in exception, the proxy raises the same type
        with the same message (so ``checks.run`` reports "sigmoid raised ValueError: …" as it
        would in the notebook); anything else becomes a StudentError.
        """

        def proxy(*args, **kwargs):
            try:
                return self.call(name, *args, **kwargs)
            except StudentCodeError as error:
                raise _as_exception(str(error), error.kind) from None

        def with_globals(**substitute):
            """The student's function with the notebook's functions named here replaced by these (ours)."""

            def substituted(*args, **kwargs):
                try:
                    return self.call_with(name, substitute, *args, **kwargs)
                except StudentCodeError as error:
                    raise _as_exception(str(error), error.kind) from None

            substituted.__name__ = substituted.__qualname__ = name
            return substituted

        def code_names() -> set[str] | None:
            """The names its code uses (see autograder.checks.code_names); None if it is not the student's."""
            if self._proc is None:
                self._start()
            reply, _ = self._request({"op": "names", "name": name})
            if "error" in reply:
                kind = Trouble.NOT_YOURS if reply.get("kind") == Trouble.NOT_YOURS.value else None
                raise _as_exception(str(reply["error"]), kind)
            names = reply.get("names")
            if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
                return None
            return set(names)

        proxy.__name__ = proxy.__qualname__ = name
        proxy.__doc__ = f"The student's {name}, run in the sandbox."
        proxy.code_names = code_names
        proxy.with_globals = with_globals
        return proxy


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
