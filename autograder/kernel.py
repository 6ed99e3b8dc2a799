"""nbgrader's in-kernel run, sandboxed: the kernel that executes a submission sees nothing of the grader.

nbgrader's ``Execute`` starts a Jupyter kernel with the grader's rights, next to the course, the
other students, the gradebook and the worker's own output. Here the kernel is started through the
sandbox's launcher instead (``autograder.sandbox.namespaced``): its own mount, PID, network, IPC
and UTS namespaces, a read-only root file system of the system and the Python installation (and
the ``autograder`` package only where it runs the hidden tests: see configure), no capability, a
user id of its own when the grader is root, resource limits, and stdin/stdout/stderr on /dev/null.

It talks to nbgrader over ZeroMQ *ipc* sockets, not TCP: with no network it could not do otherwise,
and two kernels started at once can no longer race for the same port (a kernel that lost that race
died before its first cell). The sockets are files in ``/ipc``, a small tmpfs in the kernel's own
mount namespace, which the grader reaches through ``/proc/<pid>/root`` and makes read-only once they
are bound, before anything connects to them (``SandboxProvisioner._lock``).

Writable for it, all of it tmpfs of its own, in memory and bounded: ``/ipc`` until it is locked, its
own /tmp (64 MB), and a copy of the submission's folder (WORK_TMPFS), seen at the submission's own
path (so ``np.load("IMAGES.npy")`` works; what it writes there is thrown away). Nothing of the
grader's disks.

Used by ``autograder.grading`` through ``configure``: nbgrader's Execute becomes SandboxedExecute.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import os
import re
import shutil
import stat
import subprocess
import sys
import tempfile
import time
from importlib.metadata import entry_points
from pathlib import Path

from jupyter_client.kernelspec import KernelSpec, KernelSpecManager
from jupyter_client.manager import AsyncKernelManager
from jupyter_client.provisioning import LocalProvisioner
from nbclient.util import run_sync
from nbformat import NotebookNode
from nbgrader.preprocessors import ClearHiddenTests, Execute
from traitlets import Bool, Dict, Integer, default

from . import cells, host, sandbox
from . import sandbox_policy as policy

#: What one kernel may use: ample for assignment 05's training, finite for a bomb.
KERNEL_LIMITS = {
    "RLIMIT_CPU": 1800,
    "RLIMIT_AS": 8 * 2**30,
    "RLIMIT_FSIZE": 256 * 2**20,
    "RLIMIT_NPROC": 128,
    "RLIMIT_NOFILE": 1024,
    "RLIMIT_CORE": 0,
}
#: The submission's folder as the kernel sees it: a tmpfs of its own (in memory, bounded, thrown away).
WORK_TMPFS = "size=512m,nr_inodes=20000,mode=0755"
#: Where the kernel binds its sockets, inside its namespace, and the tmpfs there: room for the connection
#: file (the sockets take none), a few names.
IPC = "/ipc"
IPC_TMPFS = "size=64k,nr_inodes=16,mode=0700"
#: The error name of a cell the kernel did not run, as the student's code hung there in the isolated pass.
NOT_RUN = "NotRunAfterHang"
#: The environment variables the kernel keeps from those nbgrader gives it: BLAS threads, and nbgrader's
#: NBGRADER_EXECUTION ("autograde"), by which a notebook skips what earns no points (05's training).
KEPT = ("OPENBLAS_NUM_THREADS", "OMP_NUM_THREADS", "MKL_NUM_THREADS", "NBGRADER_EXECUTION", "NBGRADER_VALIDATING")


def available() -> bool:
    """Whether kernels can be sandboxed here (the sandbox's namespaces work)."""
    return sandbox.isolation() == "namespaces"


def _package() -> Path:
    return Path(__file__).resolve().parent


#: The name under which ``SandboxProvisioner`` is registered (pyproject.toml's entry point in jupyter_client's
#: group ``jupyter_client.kernel_provisioners``): jupyter_client's public way to launch a kernel differently.
PROVISIONER = "autograder-sandbox"


@functools.cache
def registered() -> bool:
    """Whether this install registered the provisioner (``pip install -e .`` does, from pyproject.toml), and
    nothing else under its name (which jupyter_client could load instead: then kernels are started by no one).
    Read once a process: the scan of the installed packages' entry points took 5 ms, for every kernel started."""
    named = [ep for ep in entry_points(group="jupyter_client.kernel_provisioners") if ep.name == PROVISIONER]
    return bool(named) and all(ep.value == f"{__name__}:SandboxProvisioner" for ep in named)


class SandboxedKernelSpecs(KernelSpecManager):
    """The installed kernel specs, each launched by SandboxProvisioner (its ``kernel_provisioner`` stanza)."""

    def get_kernel_spec(self, kernel_name: str) -> KernelSpec:
        spec = super().get_kernel_spec(kernel_name)
        spec.metadata = {**spec.metadata, "kernel_provisioner": {"provisioner_name": PROVISIONER, "config": {}}}
        return spec


class SandboxedKernelManager(AsyncKernelManager):
    """jupyter_client's kernel manager, its kernels launched by SandboxProvisioner.

    Two public points: the kernel specs it reads name the provisioner, and it removes no ipc file (the
    sockets are on the kernel's tmpfs, gone with it, and a path through /proc/<pid>/root must never be
    written to once that process may be another).
    """

    @default("kernel_spec_manager")
    def _sandboxed_specs(self) -> KernelSpecManager:
        if not registered():
            raise RuntimeError(
                f"the kernel provisioner {PROVISIONER!r} is not registered: install the course's package "
                "(python -m pip install -e . at the repository's root) in the Python that grades"
            )
        return SandboxedKernelSpecs(data_dir=self.data_dir)

    def cleanup_ipc_files(self) -> None:
        """Nothing to remove (see the class)."""


class SandboxProvisioner(LocalProvisioner):
    """A kernel launched in the sandbox, speaking over ipc sockets (jupyter_client's ``LocalProvisioner``,
    its command wrapped).

    The sockets are in a folder of the kernel's own, ``IPC`` inside its namespace: a small tmpfs there
    (IPC_TMPFS), with a copy of the connection file, so that nothing the kernel writes, before or after
    its sockets are bound, reaches a disk of the grader's. The grader reaches the sockets through the
    kernel's root, ``/proc/<pid>/root/ipc``, once they are bound and ``_lock`` made the folder read-only.
    """

    with_grader = Bool(False, help="Whether the kernel sees the autograder package (only hidden tests import it).").tag(
        config=True
    )

    _box: Path | None = None  # its folder, under the worker's TMPDIR (removed with it, or by remove())
    _kernel: int | None = None  # the kernel's process (the launcher, which becomes the kernel), seen from here

    async def pre_launch(self, **kw) -> dict:
        km = self.parent
        self._box = box = Path(tempfile.mkdtemp(prefix="kernel-"))
        (box / "ipc").mkdir()
        km.transport = "ipc"
        km.ip = f"{IPC}/k"  # as the kernel sees it (the connection file says so); the grader, through /proc
        km.connection_file = str(box / "ipc" / "connection.json")
        return await super().pre_launch(**kw)

    async def launch_kernel(self, cmd: list[str], **kw) -> dict:
        box = self._box
        cwd = str(Path(kw.get("cwd") or os.getcwd()).resolve())
        package = _package()
        path = f"sys.path.insert(0, {str(package.parent)!r}); " if self.with_grader else ""
        start = f"import sys; {path}from ipykernel import kernelapp; kernelapp.launch_new_instance()"
        if "-f" not in cmd:
            raise RuntimeError(f"not a Python kernel's command (no -f connection_file): {cmd}")
        # As Jupyter's own launcher leaves it: the notebook's folder importable (not -I), no user site.
        args = cmd[cmd.index("-f") :]
        args[1] = f"{IPC}/{Path(self.parent.connection_file).name}"
        argv = [sys.executable, "-s", "-c", start, *args]
        env = policy.child_env()
        del env["MPLBACKEND"]  # the kernel's own (inline): figures reach the feedback
        env.update({k: v for k, v in (kw.get("env") or {}).items() if k in KEPT})
        kw["env"] = {"PATH": os.environ.get("PATH", "/usr/bin:/bin")}  # for unshare itself
        kw["cwd"] = "/"
        wrapped = sandbox.namespaced(
            argv,
            env,
            KERNEL_LIMITS,
            box / "root",
            policy.view([str(package)] if self.with_grader else []),
            scratch=[
                # The connection file, on a tmpfs of the kernel's own where it binds its sockets.
                (str(box / "ipc"), IPC, IPC_TMPFS, []),
                # The submission's folder, its notebooks left out (the one being run holds the test cells).
                (cwd, cwd, WORK_TMPFS, ["*.ipynb"]),
            ],
            cwd=cwd,
            quiet=not os.environ.get("AUTOGRADER_DEBUG"),
        )
        info = await super().launch_kernel(wrapped, **kw)
        try:
            self._kernel = await _kernel_process(self.process)
            await self._bound(info)
            self._lock(info)
        except BaseException:  # nbclient cleans up no kernel that failed to start: it dies here
            await self.kill()
            with contextlib.suppress(TimeoutError):  # killed with its namespace: gone at once, else left to the OS
                await asyncio.wait_for(self.wait(), timeout=5.0)
            await self.cleanup()
            raise
        # Only now (the control socket is connected next) does the grader reach the sockets in the kernel's root:
        # nothing the kernel did to its folder before the lock can send a connection elsewhere.
        self.connection_info = {**info, "ip": f"/proc/{self._kernel}/root{IPC}/k"}
        return self.connection_info

    @staticmethod
    def _sockets(info: dict) -> set[str]:
        ports = ("shell_port", "iopub_port", "stdin_port", "control_port", "hb_port")
        return {f"{Path(info['ip']).name}-{info[port]}" for port in ports}

    async def _bound(self, info: dict, seconds: float = 120.0) -> None:
        """Wait until the kernel has bound its five sockets (ZeroMQ makes each file as it binds it)."""
        ipc, deadline, sockets = f"/proc/{self._kernel}/root{IPC}", time.monotonic() + seconds, self._sockets(info)
        while time.monotonic() < deadline and self.process.poll() is None:
            kinds = {}
            for name in sockets:
                with contextlib.suppress(FileNotFoundError):
                    kinds[name] = stat.S_ISSOCK(os.lstat(f"{ipc}/{name}").st_mode)
            other = sorted(name for name, socket in kinds.items() if not socket)  # a socket's name on something else
            if other:
                raise RuntimeError(f"the kernel changed its ipc folder as it started ({other[0]}): stopped")
            if len(kinds) == len(sockets):
                return
            await asyncio.sleep(0.01)
        raise RuntimeError("the kernel did not start (it died, or bound no sockets in time)")

    def _lock(self, info: dict) -> None:
        """Once the kernel has bound its sockets, and before anything connects to them, its ipc folder is
        made read-only for good: it can neither fill it nor swap a socket for a link (which the client,
        connecting through /proc/<pid>/root, would follow in the grader's root).

        The tmpfs is remounted read-only in the kernel's mount namespace (LOCK, run in a process of its own
        that enters it), which the kernel, with no capability left, cannot undo; the remount fails where the
        kernel holds a file there open for writing. Then what it did before (code of the submission's folder
        runs as the kernel starts) is checked: its five sockets and the connection file must be there, and
        nothing else, none a link, a hard link or a folder. Anything else stops the kernel.
        """
        userns = "0" if host.real_root() else "1"
        proc = subprocess.run(
            [sys.executable, "-I", "-S", "-c", LOCK, str(self._kernel), IPC, userns],
            capture_output=True,
            text=True,
            timeout=60,
        )
        if proc.returncode != 0:
            why = (proc.stderr.strip().splitlines() or [f"status {proc.returncode}"])[-1]
            raise RuntimeError(f"the kernel's ipc folder could not be locked ({why}): stopped")
        sockets, found = self._sockets(info), set()
        for entry in os.scandir(f"/proc/{self._kernel}/root{IPC}"):
            entry_stat = entry.stat(follow_symlinks=False)
            found.add(entry.name)
            plain = stat.S_ISSOCK(entry_stat.st_mode) if entry.name in sockets else stat.S_ISREG(entry_stat.st_mode)
            if not plain or entry_stat.st_nlink != 1:
                raise RuntimeError(f"the kernel changed its ipc folder as it started ({entry.name}): stopped")
        expected = {*sockets, Path(self.parent.connection_file).name}
        if found != expected:
            changed = sorted(found ^ expected)[0]
            raise RuntimeError(f"the kernel changed its ipc folder as it started ({changed}): stopped")

    async def kill(self, restart: bool = False) -> None:
        """Kill the kernel with its whole PID namespace: LocalProvisioner kills unshare's process group,
        which a kernel leaves with os.setsid() (as root, the launcher's change of user id cleared the
        parent-death signal that unshare --kill-child had set)."""
        if self.process is not None:
            host.kill_children(self.process.pid)
        await super().kill(restart=restart)

    async def cleanup(self, restart: bool = False) -> None:
        await super().cleanup(restart=restart)
        if self._box is not None and not restart:
            remove(self._box)
            self._box = None


async def _kernel_process(unshare: subprocess.Popen, seconds: float = 60.0) -> int:
    """The kernel's process (unshare's child, the launcher that becomes the kernel) as /proc shows it, once
    it has a root of its own: until then /proc/<pid>/root is the machine's, where no path of the client's
    may lead."""
    deadline = time.monotonic() + seconds
    machine = os.stat("/")
    while time.monotonic() < deadline and unshare.poll() is None:
        for child in host.children(unshare.pid):
            try:
                root = os.stat(f"/proc/{child}/root")
                if (root.st_dev, root.st_ino) != (machine.st_dev, machine.st_ino):
                    return child
            except OSError:  # not ours to see yet, or gone
                pass
        await asyncio.sleep(0.01)
    raise RuntimeError("the kernel's sandbox did not start (its process never had a root of its own)")


#: Run as ``python -I -S -c LOCK <pid> <folder> <1 if in a user namespace>``: remount the kernel's ipc
#: tmpfs read-only, from inside its mount namespace (and its user namespace, where the grader is not
#: root), so that the kernel, with no capability, cannot undo it. A process of its own: setns() into a
#: user namespace needs a process with one thread.
LOCK = r"""
import ctypes, os, sys
libc = ctypes.CDLL(None, use_errno=True)
pid, folder, userns = sys.argv[1], sys.argv[2], sys.argv[3] == "1"
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_NOEXEC, MS_REMOUNT, MS_BIND = 1, 2, 4, 8, 32, 4096
target = os.open(f"/proc/{pid}/root{folder}", os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW)
namespaces = [os.open(f"/proc/{pid}/ns/{kind}", os.O_RDONLY) for kind in (["user"] if userns else []) + ["mnt"]]
for fd in namespaces:
    if libc.setns(fd, 0) != 0:
        sys.exit(f"setns: {os.strerror(ctypes.get_errno())}")
os.fchdir(target)
flags = MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV | MS_NOEXEC
if libc.mount(None, b".", None, flags, None) != 0:
    e = ctypes.get_errno()
    sys.exit(f"remount read-only: {os.strerror(e)}" + (" (a file held open for writing)" if e == 16 else ""))
"""


class SandboxedExecute(Execute):
    """nbgrader's Execute, with its kernels in the sandbox (configured as Execute is: c.Execute.*).

    A test cell has ``test_cell_timeout`` (it calls the student's functions on small inputs); the
    other cells keep the course's ``c.Execute.timeout``. What the isolated pass saw hang is not run
    again, as the kernel would only wait out the same hang (``skip``, set by the grading worker per
    notebook): the test cells on which the student's code hung, and the cells other than answer
    cells that name a function that hung (the "run this" cells). Each gets one error output that
    says why; a test cell scores 0, as it did in the isolated pass.
    """

    test_cell_timeout = Integer(30, help="Seconds a test cell may run in the kernel.").tag(config=True)
    skip = Dict(
        help='{notebook: {"cells": {grade_id: why}, "functions": [name, ...]}}: what hung in the isolated pass'
    ).tag(config=True)

    def __init__(self, *args, **kwargs):
        kwargs["kernel_manager_class"] = SandboxedKernelManager
        super().__init__(*args, **kwargs)
        self._skipping: dict = {}
        if self.timeout_func is None:  # nbclient's public hook for a cell's timeout
            self.timeout_func = self._cell_timeout

    def preprocess(self, nb, resources=None, km=None):
        self._skipping = self.skip.get((resources or {}).get("unique_key"), {})
        return super().preprocess(nb, resources, km)

    def _cell_timeout(self, cell) -> int | None:
        """A test cell's timeout is test_cell_timeout at most; any other cell's is the course's (c.Execute.timeout)."""
        timeout = self.timeout if self.timeout and self.timeout > 0 else None
        if cells.is_test(cell):
            return min(timeout or self.test_cell_timeout, self.test_cell_timeout)
        return timeout

    def _why_not_run(self, cell) -> str | None:
        if cell.cell_type != "code":
            return None
        hung_cells, functions = self._skipping.get("cells", {}), self._skipping.get("functions", [])
        if cells.grade_id(cell) in hung_cells:
            return f"your code hung here in the isolated check ({hung_cells[cells.grade_id(cell)].splitlines()[0]})"
        if cells.is_solution(cell) or cells.meta(cell).get("locked"):  # your answers and the given code always run
            return None
        hung = [name for name in functions if re.search(rf"\b{re.escape(name)}\b", cell.source)]
        return f"{', '.join(hung)} hung in the isolated check" if hung else None

    async def async_execute_cell(self, cell, cell_index, execution_count=None, store_history=True):
        why = self._why_not_run(cell)
        if why is None:
            return await super().async_execute_cell(cell, cell_index, execution_count, store_history)
        evalue = f"not run in the kernel: {why}"
        cell.outputs = [
            NotebookNode(output_type="error", ename=NOT_RUN, evalue=evalue, traceback=[f"{NOT_RUN}: {evalue}"])
        ]
        return cell

    execute_cell = run_sync(async_execute_cell)


def remove(folder: Path) -> None:
    """Remove a folder a kernel wrote in, following no link (tempfile's cleanup, before Python 3.11.8
    and 3.12.2, chmods a link's target: CVE-2023-6597): every folder made writable, then rmtree."""
    for parent, _, _ in os.walk(folder):  # real folders only: os.walk follows no link
        with contextlib.suppress(OSError):
            os.chmod(parent, 0o700)
    shutil.rmtree(folder, ignore_errors=True)


class ClearHiddenTestsFirst(ClearHiddenTests):
    """nbgrader's ClearHiddenTests, run before the kernel does: it never sees a hidden test."""

    enforce_metadata = Bool(False).tag(config=True)  # generate_assignment checked the source already


def configure(config, hidden_tests: bool = False) -> None:
    """Make nbgrader's autograde (with this traitlets config) run its kernels in the sandbox.

    hidden_tests False (when the isolated pass records the scores): the hidden-test blocks are
    removed from the test cells before the kernel runs them, and the kernel does not see the
    autograder package, which only hidden tests import. Neither can then reach the student's
    feedback, whatever the student's code prints; the kernel runs the visible tests, which are
    the student's own anyway. True (nbgrader's in-kernel scores are recorded): both, as nbgrader
    runs them.
    """
    from nbgrader.converters import Autograde

    configured = config.Autograde.get("autograde_preprocessors")  # the course's, or nbgrader's own
    preprocessors = configured or Autograde.class_traits()["autograde_preprocessors"].default()
    sandboxed = [SandboxedExecute if p is Execute else p for p in preprocessors]
    if not hidden_tests:
        sandboxed.insert(sandboxed.index(SandboxedExecute), ClearHiddenTestsFirst)
    config.Autograde.autograde_preprocessors = sandboxed
    config.SandboxProvisioner.with_grader = hidden_tests
    # Once its last cell has replied, the kernel has nothing left to say: it is killed with its whole
    # PID namespace (SandboxProvisioner.kill) rather than asked to shut down (measured:
    # 2.0 -> 0.7 s for the six notebooks of one student's course).
    config.SandboxedExecute.shutdown_kernel = "immediate"
