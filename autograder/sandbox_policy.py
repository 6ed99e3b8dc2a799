"""What this course lets student code see and use: the sandbox's policy.

``sandbox.namespaced`` and ``sandbox_launcher`` are the mechanism (namespaces, a root file system of
read-only binds, tmpfs, resource limits, a user id, no capability); this module says what they are given,
as a bubblewrap command line would: the system and the Python installation read-only (``view``), of
``/etc`` only ``ETC`` with a passwd and group that name no user of the machine, the grader's own package
covered wherever it lies in what is seen (``hidden_packages``), the child's environment (``child_env``),
and a user id no one on the machine has (``random_uid``, where the grader is root).
"""

from __future__ import annotations

import os
import random
import site
import sys
from dataclasses import dataclass
from pathlib import Path

from . import host

#: Of the machine's /etc, what the sandbox sees: the dynamic loader's cache and configuration, the time
#: zone, Debian's alternatives (where a system NumPy finds its BLAS), the system Python's and Matplotlib's
#: own settings, fontconfig's (without it every Matplotlib import wrote "Fontconfig error: Cannot load default
#: config file" to stderr, into the student's feedback). Not the users (passwd and group are its own:
#: etc_files), not the instructors' Jupyter and nbgrader configuration, not the host's names or anything else.
ETC = ("ld.so.cache", "ld.so.conf", "ld.so.conf.d", "localtime", "alternatives", "matplotlibrc", "python3*", "fonts")


@dataclass(frozen=True)
class View:
    """What one sandboxed process sees, and who it is there (the launcher's configuration, in part)."""

    binds: list[str]  # read-only, at the same paths
    files: dict[str, str]  # {path: text}: /etc/passwd and /etc/group of its own
    hide: list[str]  # folders covered by an empty one (the grader's package where a bind holds it)
    uid: int  # its user id (0: the grader is not root, and the process is root of a user namespace of its own)


def view(extra: list[str] = (), uid: int | None = None) -> View:
    """The course's view: the system and the Python installation (``system_binds``), and extra, read-only; the
    grader's package hidden unless extra names it. uid: where the grader is root (random by default)."""
    system = system_binds()
    seen = [*system, *(b for b in extra if b not in system)]
    uid = (uid or random_uid()) if host.real_root() else 0
    return View(seen, etc_files(uid), [h for h in hidden_packages(seen) if h not in extra], uid)


def site_dirs() -> list[str]:
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


def system_binds() -> list[str]:
    """What the sandbox sees, read-only: the system, the Python installation, the site directories."""
    etc = sorted(str(p) for pattern in ETC for p in Path("/etc").glob(pattern))
    paths = ["/usr", "/bin", "/lib", "/lib64", *etc, "/dev/null", "/dev/zero", "/dev/urandom", "/dev/random"]
    python = [sys.base_prefix, sys.prefix, *site_dirs(), str(Path(sys.executable).parent)]
    for p in python:
        p = str(Path(p).resolve())
        if not _under(p, paths):
            paths.append(p)
    return [p for p in paths if os.path.lexists(p)]


def _under(path: str, folders: list[str]) -> bool:
    """Whether path is one of folders or lies inside one."""
    return any(path == q or path.startswith(q.rstrip("/") + "/") for q in folders)


def etc_files(uid: int) -> dict[str, str]:
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
    for entry in [*sys.path, *site_dirs()]:
        candidate = Path(entry or ".") / __package__
        if (candidate / "reference.py").is_file():
            found.add(str(candidate.resolve()))
    return sorted(p for p in found if _under(p, binds))


def random_uid() -> int:
    """A user id no one on the machine has: what a sandboxed child runs as when the grader is root."""
    return random.randrange(200_000, 2_000_000_000)
