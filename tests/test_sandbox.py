"""The sandbox of the isolated pass (autograder.sandbox) and its wire, one behaviour at a time.

One sandbox per test module holds a handful of "student" functions; faults get sandboxes of
their own. Everything here runs in a few seconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import time

import numpy as np
import pytest
from conftest import at_kernel_start

from autograder import host, sandbox
from autograder import sandbox_child as wire
from autograder.course import COURSE_ROOT
from autograder.sandbox import Limits, Sandbox, StudentCodeError

STUDENT = """
import os
import numpy as np

def sigmoid(z):
    return 1 / (1 + np.exp(-np.asarray(z, dtype=float)))

def scale_in_place(x):
    x *= 2
    return float(x.sum())

def draw(rng):
    return rng.normal(size=3)

def grad(J, theta):
    e = 1e-5
    return np.array([(J(theta + e * u) - J(theta - e * u)) / (2 * e) for u in np.eye(len(theta))])

def several():
    return np.float64(1.5), [np.ones(2), (3, "four")], None

def liar():
    class Liar:
        def __eq__(self, other):
            return True
    return Liar()

def objects():
    return np.array([{"a": 1}], dtype=object)

def look(path):
    return os.path.exists(path)

def read_reference():
    import sys
    sys.path.insert(0, COURSE)
    import autograder.reference
    return 1.0

def network(port):
    import socket
    socket.create_connection(("127.0.0.1", port), timeout=2).close()
    return 1.0

def big_file():
    with open("big", "wb") as f:
        f.write(b"x" * 64 * 2**20)
    return 1.0

def fork_bomb():
    n = 0
    try:
        while True:
            if os.fork() == 0:
                import time
                time.sleep(30)
                os._exit(0)
            n += 1
    except OSError:
        return float(n)

aliased = np.tanh

def etc():
    return sorted(os.listdir("/etc")), sorted(line.split(":")[0] for line in open("/etc/passwd"))

def writable(top="/"):
    # the folders where a file system that is not read-only is mounted: the places it may write
    found = []
    for folder, dirs, _ in os.walk(top):
        dirs[:] = [d for d in dirs if os.path.join(folder, d) not in ("/proc", "/sys", "/dev")]
        try:
            here, mounted = os.statvfs(folder), os.stat(folder).st_dev != os.stat(os.path.dirname(folder)).st_dev
        except OSError:
            continue
        if not here.f_flag & os.ST_RDONLY and (folder == "/" or mounted):
            found.append([folder, here.f_blocks * here.f_frsize])
    return found
"""


class _Listener:
    """A TCP server on 127.0.0.1 that counts the connections it accepts."""

    def __init__(self):
        import socket
        import threading

        self.server = socket.create_server(("127.0.0.1", 0))
        self.server.settimeout(0.2)
        self.port = self.server.getsockname()[1]
        self.accepted = 0
        self.stop, self.first = threading.Event(), threading.Event()
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self):
        while not self.stop.is_set():
            try:
                conn, _ = self.server.accept()
            except TimeoutError:
                continue
            self.accepted += 1
            conn.close()
            self.first.set()

    def close(self):
        self.stop.set()
        self.thread.join()
        self.server.close()


@pytest.fixture
def listener():
    server = _Listener()
    yield server
    server.close()


@pytest.fixture(scope="module")
def box():
    with Sandbox(Limits(call_seconds=20)) as b:
        source = f"COURSE = {str(COURSE_ROOT)!r}\n" + STUDENT
        errors = b.run_cells([{"id": "answer", "source": source, "student": True}])
        assert errors == {}
        yield b


def test_this_machine_gives_the_sandbox_namespaces():
    # CI runs on the same kind of machine: the strongest isolation must be available there, to root
    # and (in user namespaces of its own) to any other user, unless the kernel refuses it those.
    if sandbox.isolation() != "namespaces" and (
        os.environ.get("AUTOGRADER_SANDBOX") == "limits" or not (host.real_root() or host.user_namespaces())
    ):
        pytest.skip(f"no namespaces for the sandbox here: {sandbox.fallback_reason()}")
    assert sandbox.isolation() == "namespaces", sandbox.fallback_reason()


def test_values_come_back_as_plain_numbers(box):
    out = box.function("sigmoid")(np.array([-1000.0, 0.0, 1000.0]))
    assert type(out) is np.ndarray and out.dtype == np.float64
    assert out.tolist() == [0.0, 0.5, 1.0]
    assert box.call("sigmoid", 0.0) == 0.5 and type(box.call("sigmoid", 0.0)) is float
    one, pair, nothing = box.call("several")
    assert type(one) is float and one == 1.5 and nothing is None
    assert isinstance(pair, list) and pair[1] == (3, "four") and pair[0].tolist() == [1.0, 1.0]


def test_in_place_changes_and_generators_are_mirrored(box):
    x = np.arange(3.0)
    assert box.call("scale_in_place", x) == 6.0
    assert x.tolist() == [0.0, 2.0, 4.0]
    mine, theirs = np.random.default_rng(7), np.random.default_rng(7)
    assert np.array_equal(box.call("draw", theirs), mine.normal(size=3))
    assert np.array_equal(theirs.normal(size=2), mine.normal(size=2))  # advanced alike


def test_functions_passed_to_the_student_are_called_back_here(box):
    calls = []

    def J(theta):
        calls.append(1)
        return float(np.sum(theta**2))

    g = box.call("grad", J, np.array([1.0, -2.0]))
    assert np.allclose(g, [2.0, -4.0]) and len(calls) == 4


def test_objects_that_fake_comparisons_are_refused(box):
    with pytest.raises(StudentCodeError, match="cannot be sent"):
        box.call("liar")
    with pytest.raises(StudentCodeError, match="not numbers"):
        box.call("objects")


def test_only_functions_of_answer_cells_are_called(box):
    with pytest.raises(StudentCodeError, match="not defined by an answer cell"):
        box.call("aliased", 0.0)
    with pytest.raises(StudentCodeError, match="NameError"):
        box.call("missing")


def test_the_course_is_out_of_reach(box):
    if box.mode != "namespaces":
        pytest.skip(f"the sandbox runs with isolation {box.mode!r}, where the file system is visible")
    assert box.call("look", str(COURSE_ROOT / "autograder" / "reference.py")) is False
    assert box.call("look", str(COURSE_ROOT / "gradebook.db")) is False
    with pytest.raises(StudentCodeError, match="ModuleNotFoundError"):
        box.call("read_reference")


#: What the sandboxes may see of /etc: sandbox_policy.ETC's names, and passwd and group of their own.
ETC_SEEN = (
    "ld.so.cache",
    "ld.so.conf",
    "ld.so.conf.d",
    "localtime",
    "alternatives",
    "matplotlibrc",
    "fonts",
    "passwd",
    "group",
)


def _etc_is_what_python_needs(names: list[str], users: list[str]) -> None:
    assert all(n in ETC_SEEN or n.startswith("python3") for n in names), names
    assert set(users) <= {"root", "student", "nobody"}, users


def test_the_sandbox_sees_only_what_python_needs_of_etc(box):
    """Not the machine's users (an exception message carried /etc/passwd's names into a student's feedback),
    not the instructors' Jupyter and nbgrader configuration, not the host's names."""
    if box.mode != "namespaces":
        pytest.skip(f"the sandbox runs with isolation {box.mode!r}, where the file system is visible")
    names, users = box.call("etc")
    _etc_is_what_python_needs(names, users)
    assert box.call("look", "/etc/jupyter") is False and box.call("look", "/etc/shadow") is False


def test_the_sandbox_writes_only_on_a_small_tmpfs_of_its_own(box):
    if box.mode != "namespaces":
        pytest.skip(f"the sandbox runs with isolation {box.mode!r}, where the file system is visible")
    assert box.call("writable") == [["/tmp", 64 * 2**20]]


def test_no_network(box, listener):
    """A server listening on the grader's loopback is out of the sandbox's reach (its network namespace
    has no interface up); the test talks to nobody else."""
    if box.mode != "namespaces":
        pytest.skip(f"the sandbox runs with isolation {box.mode!r} ({sandbox.fallback_reason()}): no network namespace")
    with pytest.raises(StudentCodeError, match="OSError|ConnectionRefused|unreachable"):
        box.call("network", listener.port)
    assert listener.accepted == 0


def test_the_network_check_would_see_a_connection(listener):
    """The check above can fail: the same call made here, outside the sandbox, reaches the listener."""
    import socket

    socket.create_connection(("127.0.0.1", listener.port), timeout=2).close()
    assert listener.first.wait(60) and listener.accepted == 1


def test_no_large_files(box):
    with pytest.raises(StudentCodeError, match="File too large"):
        box.call("big_file")


def test_a_fork_bomb_meets_the_process_limit_and_answers_once(box):
    slack = 0  # in a sandbox of its own (user id or user namespace), the limit counts its processes alone
    if box.mode != "namespaces":
        if host.real_root():
            pytest.skip("isolation 'limits' as root, who is exempt from the process limit (not from a control group)")
        slack = 4  # every process of this user counts: it gets as many more as ran at its start (some end)
    n = box.call("fork_bomb")
    assert 0 < n < Limits().processes + slack
    assert box.call("sigmoid", 0.0) == 0.5  # the forked copies never answered in its place


# Student code that writes to the grader's pipe itself, breaking the protocol on purpose (students can
# read sandbox_child.py).
WIRE = r"""
import os, struct, sys, time
_R, _W = int(sys.argv[1]), int(sys.argv[2])

def _raw(head, body=b"", claim_head=None):
    os.write(_W, struct.pack("<QQ", len(head) if claim_head is None else claim_head, len(body)) + head + body)
"""


@pytest.mark.parametrize(
    "body, message",
    [
        ("import os\n    os._exit(3)", "exited with status 3"),
        ("import ctypes\n    return ctypes.string_at(0)", "SIGSEGV"),
        ("hog = []\n    while True:\n        hog.append(np.empty(2**27))", "MemoryError"),
        ("return input('yes? ')", "EOFError"),
        ("import sys\n    sys.exit(0)", "SystemExit"),
        ("while True:\n        pass", "took longer than 2 s"),
        # breaking the protocol: each costs its call only, within the call budget, and never the grader
        ("_raw(b'', claim_head=100)\n    time.sleep(3600)", "took longer than 2 s"),  # half a reply, then silence
        ("_raw(b'[1, 2]')\n    time.sleep(3600)", "not numbers"),  # JSON, but not a dict
        ("_raw(b'\\xff{')\n    time.sleep(3600)", "not numbers"),  # not JSON
        ("_raw(b'[' * 200000 + b']' * 200000)\n    time.sleep(3600)", "not numbers"),  # too deep for the parser
        ("_raw(b'{\"blobs\": [5]}')\n    time.sleep(3600)", "not numbers"),  # blobs that are not there
        ("_raw(b'[' + b'[],' * (6 * 2**20) + b'[]]')\n    time.sleep(3600)", "not numbers"),  # 18 MB header
    ],
)
def test_faults_become_messages_and_the_next_call_works(body, message):
    source = WIRE + f"import numpy as np\n\ndef bad(z):\n    {body}\n\ndef good(z):\n    return z + 1.0\n"
    with Sandbox(Limits(call_seconds=2)) as b:
        b.run_cells([{"id": "answer", "source": source, "student": True}])
        with pytest.raises(StudentCodeError, match=message):
            b.call("bad", 1.0)
        assert b.call("good", 1.0) == 2.0


def test_the_wire_never_unpickles():
    blobs: list[bytes] = []
    tree = wire.encode([np.ones(2), 3.0], blobs)
    import io
    import pickle

    evil = io.BytesIO()
    np.save(evil, np.array([object()], dtype=object), allow_pickle=True)
    blobs[0] = evil.getvalue()
    with pytest.raises(ValueError, match="allow_pickle"):
        wire.decode(tree, blobs)
    with pytest.raises(wire.WireError):
        wire.decode({"t": "pickle", "v": pickle.dumps(1).hex()}, [])


def test_a_function_that_hung_on_one_input_is_called_again_on_the_next():
    # As in a notebook, where the cell after a timeout still runs (demo student dan_crash's
    # initialize_parameters loops on a Generator but works with an int seed).
    with Sandbox(Limits(call_seconds=1)) as b:
        source = "def f(x):\n    while x < 0:\n        pass\n    return x\n"
        b.run_cells([{"id": "answer", "source": source, "student": True}])
        with pytest.raises(StudentCodeError, match="took longer than 1 s"):
            b.call("f", -1.0)
        assert b.call("f", 2.0) == 2.0


def test_after_a_hang_each_call_has_the_shorter_budget():
    # A student whose every function hangs costs one call budget, then after_hang_seconds a call.
    with Sandbox(Limits(call_seconds=6, after_hang_seconds=1)) as b:
        b.run_cells(
            [{"id": "answer", "source": "import time\n\ndef f(x):\n    time.sleep(x)\n    return x\n", "student": True}]
        )
        assert b.call("f", 2.0) == 2.0  # before any hang: the whole call budget
        with pytest.raises(StudentCodeError, match="took longer than 6 s"):
            b.call("f", 3600.0)
        with pytest.raises(StudentCodeError, match=r"took longer than 1 s and was stopped \(your code had hung before"):
            b.call("f", 2.0)
        assert b.call("f", 0.0) == 0.0 and b.hangs.calls == 2  # still called, on the next input


def test_within_a_test_cell_a_function_that_hung_is_not_waited_for_again():
    # A check that goes on calling it, or the hidden block run after a failed visible line, would only
    # wait out a budget again. Another function is still called (a check may judge a part on the
    # reference where the student's other part fails), and the next cell calls f again.
    with Sandbox(Limits(call_seconds=1, after_hang_seconds=1)) as b:
        source = "def f(x):\n    while x < 0:\n        pass\n    return x\n\ndef g(x):\n    return 2 * x\n"
        b.run_cells([{"id": "answer", "source": source, "student": True}])
        b.new_cell()
        with pytest.raises(StudentCodeError, match="took longer than 1 s"):
            b.call("f", -1.0)
        assert b.hangs.in_cell == {"f": "took longer than 1 s and was stopped"}
        for x in (2.0, -1.0):
            with pytest.raises(StudentCodeError, match=r"its budget earlier in this cell \(took longer than 1 s"):
                b.call("f", x)
        assert b._proc is None and b.hangs.calls == 1  # no child started for them, nothing waited for
        assert b.call("g", 2.0) == 4.0
        b.new_cell()
        assert b.call("f", 2.0) == 2.0 and b.hangs.in_cell == {}


def test_cells_that_hung_are_not_run_again():
    # Each call would start a child and wait out the same hang (the start budget, 30 s or more) again.
    with Sandbox(Limits(call_seconds=1, start_seconds=2)) as b:
        source = "def f(x):\n    return x\n\nwhile True:\n    pass\n"
        with pytest.raises(StudentCodeError, match="took longer than 2 s"):
            b.run_cells([{"id": "answer", "source": source, "student": True}])
        for _ in range(3):
            with pytest.raises(StudentCodeError, match="while your cells ran \\(they are not run again\\)"):
                b.call("f", 1.0)
        assert b._proc is None  # no child was started for them


def test_a_child_that_stops_reading_is_stopped_at_the_call_budget():
    # The request (an 8 MB array) is larger than the pipe holds: writing it blocks until the child is killed.
    source = "import __main__, time\n__main__.receive = lambda fd: time.sleep(3600)\n\ndef f(x):\n    return 1.0\n"
    with Sandbox(Limits(call_seconds=2)) as b:
        b.run_cells([{"id": "answer", "source": source, "student": True}])
        with pytest.raises(StudentCodeError, match="took longer than 2 s"):
            b.call("f", np.zeros(2**20))


def test_nothing_the_child_started_outlives_close():
    """A process that leaves the process group (setsid) and clears its parent-death signal is still
    killed by close(): in namespaces mode, with the whole PID namespace."""
    source = (
        "import ctypes, os, threading, time\n"
        "def escape():\n"
        "    if os.fork() == 0:\n"
        "        os.setsid()\n"
        "        ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)  # PR_SET_PDEATHSIG: none\n"
        "        time.sleep(3600)\n"
        "    os.setsid()\n"
        "    ctypes.CDLL(None).prctl(1, 0, 0, 0, 0)\n"
        "    threading.Thread(target=time.sleep, args=(3600,), daemon=False).start()\n"
        "    return 1.0\n"
    )
    b = Sandbox(Limits(call_seconds=20))
    b.run_cells([{"id": "answer", "source": source, "student": True}])
    assert b.call("escape") == 1.0
    if b.mode != "namespaces":
        b.close()
        pytest.skip(f"isolation {b.mode!r}: no PID namespace to end")
    from pathlib import Path

    (child,) = [int(p) for t in Path(f"/proc/{b._proc.pid}/task").glob("*/children") for p in t.read_text().split()]
    namespace = os.readlink(f"/proc/{child}/ns/pid")
    b.close()
    for _ in range(600):  # SIGKILL is delivered at once; the kernel may take a moment to reap
        if not _namespace_members(namespace):
            break
        time.sleep(0.1)
    assert _namespace_members(namespace) == []


def _namespace_members(namespace: str) -> list[str]:
    """The processes (zombies included) of the PID namespace whose /proc/PID/ns/pid link reads namespace."""
    from pathlib import Path

    found = []
    for proc in Path("/proc").glob("[0-9]*"):
        try:
            if os.readlink(proc / "ns" / "pid") == namespace:
                found.append(proc.name)
        except OSError:
            continue
    return found


@contextlib.asynccontextmanager
async def sandboxed_kernel(cwd):
    """(kernel manager, client) of a sandboxed kernel (autograder.kernel) started in cwd and ready; shut down
    after (unless the test did), its channels stopped."""
    from autograder import kernel

    if not kernel.available():
        pytest.skip(f"isolation {sandbox.isolation()!r}: kernels are not sandboxed here")
    km = kernel.SandboxedKernelManager()
    await km.start_kernel(cwd=str(cwd))
    client = km.client()
    client.start_channels()
    try:
        await client.wait_for_ready(timeout=120)
        yield km, client
    finally:
        client.stop_channels()
        if km.has_kernel:
            await km.shutdown_kernel(now=True)


def run_in_kernel(code: str, cwd) -> str:
    """What code prints in a sandboxed kernel started in cwd (its ipc folder locked as it started)."""
    printed: list[str] = []

    def hook(msg):
        if msg["msg_type"] == "stream":
            printed.append(msg["content"]["text"])
        elif msg["msg_type"] == "error":
            printed.append(f"{msg['content']['ename']}: {msg['content']['evalue']}\n")

    async def run() -> str:
        async with sandboxed_kernel(cwd) as (_, client):
            await client.execute_interactive(code, timeout=120, output_hook=hook)
            return "".join(printed)

    return asyncio.run(run())


def test_the_kernel_sees_only_what_python_needs_of_etc(tmp_path):
    out = run_in_kernel(
        STUDENT + "import json; print(json.dumps(etc())); print(os.path.exists('/etc/jupyter'))", tmp_path
    )
    names, users = json.loads(out.splitlines()[0])
    _etc_is_what_python_needs(names, users)
    assert out.splitlines()[1] == "False"


def test_the_kernel_writes_only_on_small_tmpfs_of_its_own(tmp_path):
    """Its /tmp (64 MiB), a copy of the submission's folder (512 MiB), both in memory and its own; its ipc
    folder, where its sockets are, on a tmpfs of 64 KiB, read-only once they are bound. Nothing on a disk of
    the grader's: its ipc folder was a folder of the grader's, where 200 nameless files filled /tmp."""
    from autograder import kernel

    out = run_in_kernel(STUDENT + "import json; print(json.dumps(writable()))", tmp_path)
    places = dict(json.loads(out.splitlines()[0]))
    assert places == {"/tmp": 64 * 2**20, str(tmp_path.resolve()): 512 * 2**20}, places
    assert kernel.IPC_TMPFS.startswith("size=64k")


#: Code of the submission's folder, run as the kernel starts (ipykernel imports calendar), before its ipc
#: folder is locked: nameless files in that folder, each given 16 MiB (once, 200 of 256 MiB filled /tmp).
PRESTART_TMPFILES = """
import os, sys
RESERVED, HELD = 0, []
try:
    ipc = os.path.dirname(sys.argv[sys.argv.index("-f") + 1])
    for _ in range(4):
        fd = os.open(ipc, os.O_TMPFILE | os.O_RDWR, 0o600)
        try:
            os.posix_fallocate(fd, 0, 16 << 20)
            RESERVED += 16 << 20
        except OSError:
            pass
        HELD.append(fd) if KEEP else os.close(fd)
except Exception as error:
    RESERVED = repr(error)
"""


def test_a_kernel_that_writes_in_its_ipc_folder_as_it_starts_gets_no_room_and_is_stopped(tmp_path):
    (tmp_path / "calendar.py").write_text(at_kernel_start("KEEP = True\n" + PRESTART_TMPFILES))
    with pytest.raises(RuntimeError, match="could not be locked .*open for writing"):
        run_in_kernel("print('not reached')", tmp_path)


def test_a_kernel_that_writes_in_its_ipc_folder_as_it_starts_reserves_nothing(tmp_path):
    """The same files, closed before the lock (so that it holds): they got no room at all."""
    (tmp_path / "calendar.py").write_text(at_kernel_start("KEEP = False\n" + PRESTART_TMPFILES))
    out = run_in_kernel("import calendar; print(calendar.RESERVED)", tmp_path)
    assert out.split() == ["0"], out


#: Code of the submission's folder, run as the kernel starts: as soon as its control socket is bound, swap it
#: for a link to a socket of the grader's machine (REDIRECT), for three seconds, then put it back. The
#: grader, connecting through /proc/<pid>/root, would follow the link in its own root.
PRESTART_SWAP = """
import json, os, sys, threading, time

def _swap():
    try:
        connection = sys.argv[sys.argv.index("-f") + 1]
        info = json.load(open(connection))
        path = f"{info['ip']}-{info['control_port']}"
        while not os.path.exists(path):
            time.sleep(0.001)
        os.rename(path, path + "-real")
        os.symlink(REDIRECT, path)
        time.sleep(3)
        os.unlink(path)
        os.rename(path + "-real", path)
    except Exception:
        pass

threading.Thread(target=_swap, daemon=True).start()
"""


def test_a_kernel_cannot_send_the_grader_to_another_socket_as_it_starts(tmp_path):
    """Nothing connects to the kernel's sockets before its folder is locked and checked: a link there is found
    and stops the kernel, or is put back before anything followed it. The socket it pointed to, listening
    on the grader's side, is never connected to (once the grader's client connected there and greeted it)."""
    import socket
    import threading

    redirect = tmp_path / "grader.sock"
    listener = socket.socket(socket.AF_UNIX)
    listener.bind(str(redirect))
    listener.listen(8)
    listener.settimeout(0.2)
    accepted, stop = [], threading.Event()

    def serve():
        while not stop.is_set():
            try:
                accepted.append(listener.accept()[0])
            except TimeoutError:
                continue

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    work = tmp_path / "work"
    work.mkdir()
    (work / "calendar.py").write_text(at_kernel_start(f"REDIRECT = {str(redirect)!r}\n" + PRESTART_SWAP))
    try:
        try:
            out = run_in_kernel("import time; time.sleep(4); print('ran')", work)
            assert out.split() == ["ran"], out  # the link was put back before the lock: the kernel runs
        except RuntimeError as error:
            assert "changed its ipc folder" in str(error) or "could not be locked" in str(error), error
        time.sleep(1)
    finally:
        stop.set()
        server.join()
        listener.close()
    assert accepted == [], "the grader connected to a socket the kernel chose"


#: Run by the interpreter of a non-editable install: what its sandboxes see of the autograder it imports.
INSTALLED = """
import json, pathlib, sys, tempfile
import autograder
from autograder import kernel, sandbox
copy = str(pathlib.Path(autograder.__file__).parent / "reference.py")
probe = f"import os\\ndef look():\\n    return os.path.exists({copy!r})\\n"
probe += "def key():\\n    import autograder.reference as r, inspect\\n    return inspect.getsource(r.sigmoid)\\n"
seen = {"installed at": copy}
with sandbox.Sandbox(sandbox.Limits(call_seconds=60)) as box:
    box.run_cells([{"id": "answer", "source": probe, "student": True}])
    seen["child sees the package"] = box.call("look")
    try:
        seen["child reads the key"] = box.call("key")
    except sandbox.StudentCodeError as error:
        seen["child reads the key"] = str(error)
sys.path.insert(0, sys.argv[1])
import test_sandbox
with tempfile.TemporaryDirectory() as cwd:
    seen["kernel"] = test_sandbox.run_in_kernel(probe + "print(look())\\nprint(key())", cwd)
print(json.dumps(seen))
"""


def test_a_non_editable_install_keeps_the_package_out_of_the_sandboxes(tmp_path):
    """pip install . (not -e) puts autograder in site-packages, which the sandboxes bind (NumPy is there):
    the child and the kernel once imported the reference there and printed its source. Here an interpreter
    whose autograder is such a copy (its files in its own site-packages, as pip puts them; the grader's
    environment on its path for NumPy and the rest) starts both sandboxes; neither sees the package."""
    import shutil
    import site
    import subprocess
    import sys
    from pathlib import Path

    if sandbox.isolation() != "namespaces":
        pytest.skip(f"no namespaces for the sandbox here: {sandbox.fallback_reason()}")
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True, timeout=300)
    python = venv / "bin" / "python"
    sp = subprocess.run(
        [python, "-c", "import site; print(site.getsitepackages()[0])"], capture_output=True, text=True, check=True
    ).stdout.strip()
    package = Path(sandbox.__file__).parent
    shutil.copytree(package, Path(sp) / "autograder", ignore=shutil.ignore_patterns("__pycache__"))
    (Path(sp) / "grader-environment.pth").write_text("\n".join(site.getsitepackages()) + "\n")
    proc = subprocess.run(
        [python, "-c", INSTALLED, str(Path(__file__).parent)],
        capture_output=True,
        text=True,
        timeout=600,
        cwd=tmp_path,
        env={**os.environ, "PYTHONDONTWRITEBYTECODE": "1"},
    )
    assert proc.returncode == 0, proc.stderr
    seen = json.loads(proc.stdout.splitlines()[-1])
    assert seen["installed at"].startswith(sp), seen  # the copy ran, not the checkout
    assert seen["child sees the package"] is False, seen
    assert "ModuleNotFoundError" in seen["child reads the key"] or "ImportError" in seen["child reads the key"], seen
    assert seen["kernel"].splitlines()[0] == "False" and "Error" in seen["kernel"], seen
    assert "def sigmoid" not in json.dumps(seen), seen


def test_the_kernel_is_launched_through_the_installed_provisioner(tmp_path, monkeypatch):
    """jupyter_client's public way to launch a kernel differently: a provisioner registered by the install's entry
    point (pyproject.toml), named by the kernel specs the grader's manager reads. Without the entry point (a stale
    install) the manager says what to do, rather than jupyter_client's bare "has not been registered"."""
    from autograder import kernel

    if not kernel.available():
        pytest.skip(f"isolation {sandbox.isolation()!r}: kernels are not sandboxed here")
    assert kernel.registered()

    async def start() -> type:
        async with sandboxed_kernel(tmp_path) as (km, _):
            return type(km.provisioner)

    assert asyncio.run(start()) is kernel.SandboxProvisioner
    monkeypatch.setattr(kernel, "registered", lambda: False)
    with pytest.raises(RuntimeError, match=r"provisioner 'autograder-sandbox' is not registered.*pip install -e \."):
        _ = kernel.SandboxedKernelManager().kernel_spec


def test_a_kernel_that_left_its_process_group_dies_with_its_namespace_when_killed(tmp_path):
    """nbgrader's kernels are killed once their last cell replied (shutdown_kernel = "immediate"):
    jupyter_client kills unshare's process group, which the kernel can leave with os.setsid(); the
    kernel manager kills the namespace's first process too, and every process in it ends."""
    from pathlib import Path

    async def run() -> str:
        async with sandboxed_kernel(tmp_path) as (km, client):
            reply = await client.execute_interactive("import os; os.setsid()", timeout=120)
            assert reply["content"]["status"] == "ok"
            unshare = km.provisioner.process.pid
            (first,) = [int(p) for t in Path(f"/proc/{unshare}/task").glob("*/children") for p in t.read_text().split()]
            namespace = os.readlink(f"/proc/{first}/ns/pid")
            assert _namespace_members(namespace)
            await km.shutdown_kernel(now=True)
            return namespace

    namespace = asyncio.run(run())
    for _ in range(600):  # SIGKILL is delivered at once; the processes may take a moment to be reaped
        if not _namespace_members(namespace):
            break
        time.sleep(0.1)
    assert _namespace_members(namespace) == []


def test_a_proxy_is_copied_as_a_function_is_itself():
    """A check may copy what it is given (copy.deepcopy of a namespace): the student's function, run in the
    sandbox, is copied as a Python function is, as itself, and shown as one."""
    import copy

    with Sandbox() as b:
        b.run_cells([{"id": "answer", "source": "def f(x):\n    return 2 * x\n", "student": True}])
        f = b.function("f")
        assert copy.copy(f) is f and copy.deepcopy({"f": f})["f"] is f
        assert repr(f) == "<function f>" and f.__name__ == "f" and f(2.0) == 4.0
