"""Bring up the course's JupyterHub on this machine, in one command (as root, from the instructors' environment):

    .venv/bin/python deploy/jupyterhub/up.py --instructors ines --students alice,bob

It sets up what the hub needs, once, and reuses it on later runs, then runs JupyterHub (``jupyterhub_config.py``
next to this file) in the foreground until SIGTERM or Ctrl-C, which stop the users' servers and the services too:

1. ``configurable-http-proxy`` from npm, installed by ``npm ci`` into ``deploy/jupyterhub/node_modules`` (pinned by
   package.json and package-lock.json; never globally);
2. the student environment, a venv of ``pip install ./student jupyterhub`` (the hub's version), built once and
   reused while student/ and the hub's version are the same (``--student-venv``, default ``STATE/student-venv``);
3. the grader account (``--grader``, default ``grader-sparse-autoencoder``; made with useradd if missing) and the
   course directory it owns, 0700 (``--course-dir``, default ``STATE/course``): made once with the course's own
   ``Course.scratch`` (nbgrader_config.py, source/, release/ and the gradebook, by nbgrader's
   generate_assignment), never touched again;
4. the exchange (``--exchange``, default ``/srv/nbgrader/exchange``), root's and 1777: writable by everyone, as
   nbgrader needs, and sticky, so that no student can swap the course's folder in it;
5. the nbgrader configuration the hub's processes read (``STATE/jupyter-config/``, given to them on
   ``JUPYTER_CONFIG_PATH``; nothing is written to /etc or to an environment's etc/): ``students/`` (the
   exchange, ``path_includes_course``, ``JupyterHubAuthPlugin``) and ``grader/`` (the course's root and id);
6. the hub's settings (``STATE/hub/settings.json``, 0600), which ``jupyterhub_config.py`` reads.

Users are the machine's: ``--authenticator pam`` (the default) checks their own passwords; ``--authenticator
shared-password`` lets every listed user in with the password in the environment variable SAE_HUB_PASSWORD (at least
8 characters), for tests and trying it out; ``--create-users`` makes missing users (useradd, a home, bash).
``python deploy/jupyterhub/up.py --help`` lists every option; deploy/jupyterhub/README.md says what to change for
a real term.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import pwd
import shutil
import stat
import subprocess
import sys
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent.parent
CONFIG = HERE / "jupyterhub_config.py"
COURSE_ID = "sparse-autoencoder"
SYSTEM_PATH = os.pathsep.join(["/usr/local/sbin", "/usr/local/bin", "/usr/sbin", "/usr/bin", "/sbin", "/bin"])
#: What makes the student environment: its files (a change rebuilds it).
STUDENT = REPO / "student"
KEY_FILE = ".sparse-autoencoder-student-key"


def say(text: str) -> None:
    print(f"up.py: {text}", flush=True)


class Refused(SystemExit):
    """A set-up step that cannot go on: the message says why and what to do (exit status 1)."""

    def __init__(self, text: str):
        super().__init__(f"up.py: {text}")


def tool(name: str) -> str:
    found = shutil.which(name, path=os.environ.get("PATH", "") + os.pathsep + SYSTEM_PATH)
    if found is None:
        raise Refused(f"{name} not found on PATH or in the system's folders")
    return found


def run(args: list, *, what: str, **kwargs) -> subprocess.CompletedProcess:
    """Run a set-up command; refuse with its output if it fails."""
    proc = subprocess.run([str(a) for a in args], capture_output=True, text=True, **kwargs)
    if proc.returncode != 0:
        raise Refused(f"{what} failed (exit status {proc.returncode}):\n{proc.stdout[-3000:]}{proc.stderr[-3000:]}")
    return proc


# ------------------------------------------------------------------------------------------ 1. the proxy


def proxy_command() -> list[str]:
    """[node, configurable-http-proxy's script], installed with ``npm ci`` into HERE/node_modules if missing or not
    the version package.json pins."""
    node = tool("node")
    wanted = json.loads((HERE / "package.json").read_text())["dependencies"]["configurable-http-proxy"]
    installed = HERE / "node_modules" / "configurable-http-proxy"
    script = installed / "bin" / "configurable-http-proxy"
    version = None
    if (installed / "package.json").is_file():
        version = json.loads((installed / "package.json").read_text()).get("version")
    if version != wanted or not script.is_file():
        say(f"installing configurable-http-proxy {wanted} from npm into {HERE / 'node_modules'}")
        run([tool("npm"), "ci", "--no-audit", "--no-fund", "--loglevel=error"], what="npm ci", cwd=HERE)
    return [node, str(script)]


# ------------------------------------------------------------------------------------------ 2. the student venv


def hub_version() -> str:
    from jupyterhub import __version__

    return __version__


def student_key() -> str:
    """What the student venv is built from: student/'s files, the hub's version, this Python's version."""
    digest = hashlib.sha256()
    for path in sorted(p for p in STUDENT.rglob("*") if p.is_file() and "egg-info" not in str(p)):
        digest.update(str(path.relative_to(STUDENT)).encode() + b"\0" + path.read_bytes() + b"\0")
    digest.update(f"jupyterhub=={hub_version()} python {sys.version}".encode())
    return digest.hexdigest()


def student_venv(venv: Path) -> Path:
    """The student environment at venv, built unless its key says it was built from the same files (one
    builder at a time: a lock file beside it)."""
    import fcntl

    venv.parent.mkdir(parents=True, exist_ok=True)
    with open(venv.parent / f".{venv.name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _student_venv(venv)


def _student_venv(venv: Path) -> Path:
    key = student_key()
    if (venv / KEY_FILE).is_file() and (venv / KEY_FILE).read_text() == key:
        say(f"student environment: {venv} (reused)")
        return venv
    say(f"building the student environment in {venv} (pip install ./student jupyterhub=={hub_version()}; a minute)")
    if venv.exists():
        shutil.rmtree(venv)
    venv.parent.mkdir(parents=True, exist_ok=True)
    run([sys.executable, "-m", "venv", venv], what=f"python -m venv {venv}")
    with tempfile.TemporaryDirectory() as tmp:  # a copy: pip's build leaves nothing in the checkout
        copy = Path(tmp) / "student"
        shutil.copytree(STUDENT, copy, ignore=shutil.ignore_patterns("build", "*.egg-info"))
        run(
            [venv / "bin" / "python", "-m", "pip", "install", "--quiet", copy, f"jupyterhub=={hub_version()}"],
            what="pip install ./student jupyterhub",
            timeout=1800,
        )
    (venv / KEY_FILE).write_text(key)  # last: a venv half built is built again
    return venv


# ------------------------------------------------------------------------------------------ 3. users, the course


def ensure_user(name: str, *, create: bool) -> pwd.struct_passwd:
    """The local user name; made (a group of its own, a home, bash) if missing and create, else refused."""
    try:
        return pwd.getpwnam(name)
    except KeyError:
        if not create:
            raise Refused(f"no local user {name}: make it (useradd -m {name}), or pass --create-users") from None
    say(f"creating the local user {name} (useradd --create-home; the home 0700)")
    run([tool("useradd"), "--create-home", "--user-group", "--shell", "/bin/bash", name], what=f"useradd {name}")
    entry = pwd.getpwnam(name)
    # useradd's homes are 0755 where login.defs says nothing (Debian 12): every student could read every other
    # one's notebooks and the submission secrets nbgrader keeps there (which name their feedback).
    Path(entry.pw_dir).chmod(0o700)
    return entry


def private_homes(users: list[pwd.struct_passwd]) -> None:
    """Say which homes others may read or pass (a classmate's notebooks and submission secrets are there)."""
    open_homes = [u.pw_dir for u in users if Path(u.pw_dir).is_dir() and Path(u.pw_dir).stat().st_mode & 0o077]
    if open_homes:
        say(
            f"warning: others may enter or read {', '.join(open_homes)}: a student could read a classmate's work "
            "and submission secret there; chmod 0700 them"
        )


def chown_tree(root: Path, user: pwd.struct_passwd) -> None:
    for folder, dirs, files in os.walk(root):
        for name in [folder, *(os.path.join(folder, n) for n in dirs + files)]:
            os.lchown(name, user.pw_uid, user.pw_gid)


def ensure_course(course_dir: Path, grader: pwd.struct_passwd, assignments: list[str] | None) -> None:
    """The grader's course directory, made once from this repository's course; 0700 (it holds the solutions)."""
    if not (course_dir / "nbgrader_config.py").is_file():
        sys.path.insert(0, str(REPO))
        from autograder.course import Course

        say(f"making the course directory {course_dir} (nbgrader generate_assignment; seconds per assignment)")
        Course().scratch(course_dir, assignments)
        chown_tree(course_dir, grader)
    owner = course_dir.stat().st_uid
    if owner != grader.pw_uid:
        raise Refused(f"{course_dir} belongs to uid {owner}, not to the grader {grader.pw_name}: chown -R it")
    if course_dir.stat().st_mode & 0o077:
        say(f"chmod 0700 {course_dir} (it holds the solutions and the gradebook: the grader's alone)")
        course_dir.chmod(0o700)


#: The course's folders in the exchange and their modes, as nbgrader's release_assignment makes them: students
#: hand in to inbound/ and fetch from feedback/ without listing either, and read outbound/.
EXCHANGE_FOLDERS = {"inbound": 0o2733, "outbound": 0o755, "feedback": 0o711}


def ensure_exchange(exchange: Path, grader: pwd.struct_passwd) -> None:
    """nbgrader's exchange root: root's, writable by everyone and sticky (docs/instructors.md: A term with
    nbgrader); and the course's folder in it with inbound/, outbound/ and feedback/, made now, the grader's. In a folder
    everyone may write, the first to make <course> owns it: a student who made it (or a link of that name)
    before the first release would receive every hand-in and hand out notebooks of their own."""
    exchange.mkdir(parents=True, exist_ok=True)
    info = exchange.stat()
    if info.st_uid != 0:
        raise Refused(
            f"the exchange {exchange} belongs to uid {info.st_uid}, not root: in a sticky folder its owner "
            "may remove anyone's files; use a folder root owns"
        )
    if stat.S_IMODE(info.st_mode) != 0o1777:
        exchange.chmod(0o1777)
    for folder in [exchange / COURSE_ID, *(exchange / COURSE_ID / name for name in EXCHANGE_FOLDERS)]:
        try:
            found = os.lstat(folder)
        except FileNotFoundError:
            folder.mkdir()
            os.chown(folder, grader.pw_uid, grader.pw_gid)
            found = os.lstat(folder)
        if not stat.S_ISDIR(found.st_mode) or found.st_uid != grader.pw_uid:
            kind = "a link" if stat.S_ISLNK(found.st_mode) else "a folder" if stat.S_ISDIR(found.st_mode) else "a file"
            raise Refused(
                f"{folder} is {kind} of {user_name(found.st_uid)}, not a folder of the grader {grader.pw_name}: "
                "someone made it before the course did (a student could then receive every hand-in); look at it, "
                "remove it (as root) and start again"
            )
        mode = EXCHANGE_FOLDERS.get(folder.name, 0o755) if folder != exchange / COURSE_ID else 0o755
        if stat.S_IMODE(found.st_mode) != mode:
            folder.chmod(mode)


def user_name(uid: int) -> str:
    try:
        return pwd.getpwuid(uid).pw_name
    except KeyError:
        return f"uid {uid}"


def free_ports(ip: str, ports: dict[str, int]) -> None:
    """Refuse if any of the hub's ports is taken: the proxy routes to formgrader's port whoever listens on it, and
    a local user who took it first would serve the instructors' formgrader pages (and read their requests)."""
    import socket

    for what, port in ports.items():
        address = ip if what == "the hub" else "127.0.0.1"
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            try:
                s.bind((address, port))
            except OSError as error:
                raise Refused(
                    f"{what}'s port {address}:{port} is taken ({error.strerror}): stop what listens there "
                    "(`ss -ltnp`), or choose another port"
                ) from None


def blocked_folders(paths: list[Path]) -> list[str]:
    """The folders above paths that others may not pass (no o+x): what stops another user from reaching them."""
    out = []
    for path in paths:
        for folder in [*reversed(Path(path).parents)]:
            if folder.is_dir() and not folder.stat().st_mode & stat.S_IXOTH and str(folder) not in out:
                out.append(str(folder))
    return out


def check_reachable(grader: str, student_python: Path) -> None:
    """As the grader (a user who is not root, as the students are): run both environments' Python."""
    probes = {
        student_python: "import nbgrader, jupyterhub",
        Path(sys.executable): "import autograder, nbgrader, jupyterhub",
    }
    for python, code in probes.items():
        proc = subprocess.run(
            [tool("runuser"), "-u", grader, "--", str(python), "-c", code], capture_output=True, text=True, cwd="/"
        )
        if proc.returncode != 0:
            targets = [python, Path(os.path.realpath(python)), REPO]
            raise Refused(
                f"the user {grader} cannot run {python} -c '{code}':\n{proc.stderr[-2000:]}\n"
                f"folders others cannot pass: {', '.join(blocked_folders(targets)) or 'none'} "
                "(chmod o+x them, or put the environments elsewhere)"
            )


# ------------------------------------------------------------------------------------------ 5. nbgrader config


def write_config(folder: Path, text: str) -> str:
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o755)
    (folder / "nbgrader_config.py").write_text(text)
    (folder / "nbgrader_config.py").chmod(0o644)
    return str(folder)


def nbgrader_configs(state: Path, exchange: Path, course_dir: Path) -> tuple[str, str]:
    """(the students' config folder, the grader's), for JUPYTER_CONFIG_PATH; rewritten on every start."""
    header = '"""Generated by deploy/jupyterhub/up.py on every start: edit up.py, not this file."""\n\n'
    students = write_config(
        state / "jupyter-config" / "students",
        header + "from nbgrader.auth import JupyterHubAuthPlugin\n\n"
        "c = get_config()  # noqa: F821\n"
        f"c.Exchange.root = {str(exchange)!r}\n"
        "c.Exchange.path_includes_course = True  # students' folders: ~/<course>/<assignment>\n"
        "c.Authenticator.plugin_class = JupyterHubAuthPlugin  # courses from the hub's groups\n",
    )
    grader = write_config(
        state / "jupyter-config" / "grader",
        header + "c = get_config()  # noqa: F821\n"
        f"c.CourseDirectory.root = {str(course_dir)!r}\n"
        f"c.CourseDirectory.course_id = {COURSE_ID!r}\n",
    )
    return students, grader


# ------------------------------------------------------------------------------------------ the command


def names(text: str) -> list[str]:
    return [n.strip() for n in text.split(",") if n.strip()]


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="up.py",
        description="Set up and run the course's JupyterHub (as root). See deploy/jupyterhub/README.md.",
    )
    p.add_argument("--instructors", type=names, default=[], help="comma-separated local users: formgrader's group")
    p.add_argument("--students", type=names, default=[], help="comma-separated local users: the course's students")
    p.add_argument("--admins", type=names, default=[], help="comma-separated hub administrators (none by default)")
    p.add_argument("--ip", default="127.0.0.1", help="the address the hub is served on (default 127.0.0.1)")
    p.add_argument("--port", type=int, default=8000, help="the hub's public port (default 8000)")
    p.add_argument("--hub-port", type=int, help="the hub's own API, on 127.0.0.1 (default: port + 1)")
    p.add_argument("--proxy-api-port", type=int, help="the proxy's API, on 127.0.0.1 (default: port + 2)")
    p.add_argument("--formgrader-port", type=int, help="formgrader's service, on 127.0.0.1 (default: port + 3)")
    p.add_argument("--state", type=Path, default=Path("/srv/sparse-autoencoder-hub"), help="the hub's folder")
    p.add_argument("--exchange", type=Path, default=Path("/srv/nbgrader/exchange"), help="nbgrader's exchange root")
    p.add_argument("--course-dir", type=Path, help="the grader's course directory (default STATE/course)")
    p.add_argument("--student-venv", type=Path, help="the student environment (default STATE/student-venv)")
    p.add_argument("--grader", default=f"grader-{COURSE_ID}", help="the local user who owns the course")
    p.add_argument("--assignments", type=names, help="the assignments of a new course directory (default: all)")
    p.add_argument("--authenticator", choices=["pam", "shared-password"], default="pam")
    p.add_argument("--create-users", action="store_true", help="make missing instructors and students (useradd)")
    p.add_argument(
        "--feedback-min-gap",
        type=float,
        help="seconds between two graded hand-ins of one student's assignment (the feedback service's --min-gap)",
    )
    p.add_argument("--ssl-cert", type=Path, help="TLS certificate of the public address (with --ssl-key)")
    p.add_argument("--ssl-key", type=Path, help="TLS key of the public address")
    return p


def settings_of(args, **found) -> dict:
    state = args.state.resolve()
    return {
        "course_id": COURSE_ID,
        "ip": args.ip,
        "port": args.port,
        "hub_port": args.hub_port or args.port + 1,
        "proxy_api_port": args.proxy_api_port or args.port + 2,
        "formgrader_port": args.formgrader_port or args.port + 3,
        "state": str(state),
        "exchange": str(args.exchange.resolve()),
        "course_dir": str((args.course_dir or state / "course").resolve()),
        "student_venv": str((args.student_venv or state / "student-venv").absolute()),
        "instructors_python": sys.executable,  # the venv's python as called, not resolved
        "grader": args.grader,
        "instructors": args.instructors,
        "students": args.students,
        "admins": args.admins,
        "authenticator": args.authenticator,
        "feedback_min_gap": args.feedback_min_gap,
        "ssl_cert": str(args.ssl_cert.resolve()) if args.ssl_cert else None,
        "ssl_key": str(args.ssl_key.resolve()) if args.ssl_key else None,
    } | found


def main(argv: list[str] | None = None) -> None:
    args = parser().parse_args(argv)
    if os.geteuid() != 0:
        raise Refused("run me as root: JupyterHub's LocalProcessSpawner starts each user's server as that user")
    if not args.instructors or not args.students:
        raise Refused("name the course's users: --instructors NAME[,NAME…] --students NAME[,NAME…]")
    if bool(args.ssl_cert) != bool(args.ssl_key):
        raise Refused("--ssl-cert and --ssl-key go together")
    password = None
    if args.authenticator == "shared-password":
        password = os.environ.get("SAE_HUB_PASSWORD", "")
        if len(password) < 8:
            raise Refused("--authenticator shared-password takes the password from SAE_HUB_PASSWORD (8 characters+)")
    settings = settings_of(args)
    state, hub_state = Path(settings["state"]), Path(settings["state"]) / "hub"
    state.mkdir(parents=True, exist_ok=True)
    state.chmod(0o755)  # others pass it: the student environment and the config folders are in it
    hub_state.mkdir(exist_ok=True)
    hub_state.chmod(0o700)  # the hub's database, cookie secret and settings (the password)

    free_ports(
        args.ip,
        {
            "the hub": settings["port"],
            "the hub's API": settings["hub_port"],
            "the proxy's API": settings["proxy_api_port"],
            "formgrader": settings["formgrader_port"],
        },
    )
    proxy = proxy_command()
    private_homes([ensure_user(name, create=args.create_users) for name in args.instructors + args.students])
    grader = ensure_user(args.grader, create=True)
    if not Path(grader.pw_dir).is_dir():
        raise Refused(f"the grader {args.grader} has no home ({grader.pw_dir}): its Jupyter keeps its files there")
    venv = student_venv(Path(settings["student_venv"]))
    check_reachable(args.grader, venv / "bin" / "python")
    course_dir, exchange = Path(settings["course_dir"]), Path(settings["exchange"])
    ensure_course(course_dir, grader, args.assignments)
    ensure_exchange(exchange, grader)
    students_config, grader_config = nbgrader_configs(state, exchange, course_dir)

    settings |= {"proxy": proxy, "config_students": students_config, "config_grader": grader_config}
    settings["password"] = password
    settings_file = hub_state / "settings.json"
    settings_file.touch(mode=0o600)
    settings_file.chmod(0o600)
    settings_file.write_text(json.dumps(settings, indent=1))
    scheme = "https" if args.ssl_cert else "http"
    say(
        f"JupyterHub on {scheme}://{args.ip}:{args.port}/ (course {COURSE_ID}: grader {args.grader}, "
        f"instructors {', '.join(args.instructors)}, {len(args.students)} students; Ctrl-C stops it)"
    )
    env = os.environ | {
        "SAE_HUB_SETTINGS": str(settings_file),
        "PATH": os.pathsep.join([os.path.dirname(sys.executable), os.environ.get("PATH", ""), SYSTEM_PATH]),
    }
    os.chdir(hub_state)
    os.execve(sys.executable, [sys.executable, "-m", "jupyterhub", "-f", str(CONFIG)], env)


if __name__ == "__main__":
    main()
