"""JupyterHub configuration of the sparse autoencoder course, set up the way nbgrader's documentation
("Using nbgrader with JupyterHub", one class with several graders) sets one up, for JupyterHub >= 2's roles.

It is not edited per machine: ``up.py`` (the launcher, next to it) writes the settings of one hub (ports, users,
folders, authenticator) to ``STATE/hub/settings.json`` and starts ``jupyterhub -f`` this file with
``SAE_HUB_SETTINGS`` naming that file. What it sets up:

* the hub on ``ip:port``, its own API on 127.0.0.1, ``configurable-http-proxy`` from npm (the launcher
  installs it into ``deploy/jupyterhub/node_modules``), its database and cookie secret in ``STATE/hub/``;
* students and instructors are local users; each one's own server (``LocalProcessSpawner``) runs
  ``jupyterhub-singleuser`` from the STUDENT environment (``pip install ./student jupyterhub``: the
  Assignment List, no instructor tool), with the students' nbgrader configuration on ``JUPYTER_CONFIG_PATH``
  (the exchange, ``path_includes_course``, ``JupyterHubAuthPlugin``);
* nbgrader's groups: ``nbgrader-<course>`` (students: the Assignment List shows the course) and
  ``formgrade-<course>`` (instructors); the server token may read its owner's groups, which is what
  ``JupyterHubAuthPlugin`` asks the hub for;
* formgrader: a hub-managed service named after the course, ``jupyterhub-singleuser`` of the INSTRUCTORS'
  environment (the Python that runs the hub) as the grader user, in the course directory, which only the
  ``formgrade-<course>`` group may open (``/services/<course>/``, landing on formgrader);
* the feedback-on-submit service (``python -m autograder serve``, as the grader, no URL), once the
  package has ``autograder.service``.
"""

from __future__ import annotations

import importlib.util
import json
import os
from pathlib import Path

c = get_config()  # noqa: F821 (provided by JupyterHub when it loads this file)

if "SAE_HUB_SETTINGS" not in os.environ:
    raise SystemExit(
        "jupyterhub_config.py reads its settings from the file SAE_HUB_SETTINGS names: start the hub with "
        "`python deploy/jupyterhub/up.py` (see deploy/jupyterhub/README.md), which writes them"
    )
settings = json.loads(Path(os.environ["SAE_HUB_SETTINGS"]).read_text())

COURSE = settings["course_id"]
GRADER = settings["grader"]
STUDENTS, INSTRUCTORS = settings["students"], settings["instructors"]
STUDENT_GROUP, INSTRUCTOR_GROUP = f"nbgrader-{COURSE}", f"formgrade-{COURSE}"
FEEDBACK_SERVICE = f"{COURSE}-feedback"
HUB_STATE = Path(settings["state"]) / "hub"
INSTRUCTORS_BIN = Path(settings["instructors_python"]).parent  # the venv's bin/, not resolved
STUDENTS_BIN = Path(settings["student_venv"]) / "bin"
SYSTEM_PATH = "/usr/local/bin:/usr/bin:/bin"

# ------------------------------------------------------------------------------------------ the hub

c.JupyterHub.ip = settings["ip"]
c.JupyterHub.port = settings["port"]
c.JupyterHub.hub_ip = "127.0.0.1"
c.JupyterHub.hub_port = settings["hub_port"]
if settings.get("ssl_cert"):
    c.JupyterHub.ssl_cert = settings["ssl_cert"]
    c.JupyterHub.ssl_key = settings["ssl_key"]
c.JupyterHub.db_url = f"sqlite:///{HUB_STATE / 'jupyterhub.sqlite'}"
c.JupyterHub.cookie_secret_file = str(HUB_STATE / "jupyterhub_cookie_secret")
c.ConfigurableHTTPProxy.command = settings["proxy"]  # [node, the script]
c.ConfigurableHTTPProxy.api_url = f"http://127.0.0.1:{settings['proxy_api_port']}"
c.ConfigurableHTTPProxy.pid_file = str(HUB_STATE / "jupyterhub-proxy.pid")

# ------------------------------------------------------------------------------------------ who logs in

if settings["authenticator"] == "pam":
    # Real use: the machine's own accounts and passwords (the hub runs as root, which PAM needs).
    c.JupyterHub.authenticator_class = "pam"
else:
    # Tests and trying it out: every listed user logs in with one password (at least 8 characters).
    c.JupyterHub.authenticator_class = "shared-password"
    c.SharedPasswordAuthenticator.user_password = settings["password"]
c.Authenticator.allowed_users = set(STUDENTS) | set(INSTRUCTORS)
c.Authenticator.admin_users = set(settings.get("admins", []))

# nbgrader's groups (JupyterHubAuthPlugin reads them): the course's students, and its graders with the grader
# account, whose formgrader asks the hub which courses it grades (nbgrader's NbGraderAPI lists the exchange for
# its user as it starts: a 403 there was a 500 on every formgrader page). load_groups only adds: a user removed
# from the settings stays in the group until removed through the hub's API or admin page.
c.JupyterHub.load_groups = {
    STUDENT_GROUP: {"users": sorted(STUDENTS)},
    INSTRUCTOR_GROUP: {"users": sorted({*INSTRUCTORS, GRADER})},
}

c.JupyterHub.load_roles = [
    {
        # Instructors: formgrader (the course's service), and seeing it in the hub's Services menu.
        "name": f"formgrade-{COURSE}",
        "description": f"open formgrader of {COURSE}",
        "groups": [INSTRUCTOR_GROUP],
        "scopes": [
            f"access:services!service={COURSE}",
            f"list:services!service={COURSE}",
            f"read:services!service={COURSE}",
        ],
    },
    {
        # The grader's services, whose nbgrader's JupyterHubAuthPlugin asks the hub for the grader's own groups
        # (GET /users/<grader>: the courses it may list in the exchange) and adds a student that formgrader or
        # grading meets for the first time to the students' group (GET /groups, POST /groups/<group>/users).
        "name": f"grader-{COURSE}",
        "description": f"read the grader's groups, add students to {STUDENT_GROUP}",
        "services": [],  # the grader's services, once defined (below)
        "scopes": [
            f"read:users:name!user={GRADER}",
            f"read:users:groups!user={GRADER}",
            f"list:groups!group={STUDENT_GROUP}",
            f"read:groups!group={STUDENT_GROUP}",
            f"groups!group={STUDENT_GROUP}",
        ],
    },
]


def default_url(handler) -> str:
    """Where a user lands after logging in: instructors on formgrader, everyone else in their own server."""
    user = handler.current_user
    base = handler.base_url  # "/" unless the hub is served under a prefix
    if user is not None and INSTRUCTOR_GROUP in {group.name for group in user.groups}:
        return f"{base}services/{COURSE}/"
    return f"{base}hub/spawn"


c.JupyterHub.default_url = default_url

# ------------------------------------------------------------------------------------------ each user's server

# Everyone's own server is the student environment: JupyterLab with the Assignment List and the Validate
# button, nbgrader's instructor tools turned off by its etc/jupyter (students must not run formgrader).
c.Spawner.cmd = [str(STUDENTS_BIN / "jupyterhub-singleuser")]
c.Spawner.default_url = "/lab"
c.Spawner.environment = {
    "PATH": f"{STUDENTS_BIN}:{SYSTEM_PATH}",
    "LANG": "C.UTF-8",
    "JUPYTER_CONFIG_PATH": settings["config_students"],  # nbgrader_config.py: exchange, course groups
}
# JupyterHubAuthPlugin asks the hub, with the server's token, for the groups of the user it runs for
# (GET /hub/api/users/<name>): the token needs read:users:groups on its owner, which JupyterHub's default
# server token (activity and access only) lacks; nothing more.
c.Spawner.server_token_scopes = [
    "users:activity!user",
    "access:servers!server",
    "read:users:name!user",
    "read:users:groups!user",
]
# Generous: a server's start is JupyterLab's, 10-30 s on a busy 2-core machine.
c.Spawner.start_timeout = 300
c.Spawner.http_timeout = 300

# ------------------------------------------------------------------------------------------ the grader's services

grader_environment = {
    "PATH": f"{INSTRUCTORS_BIN}:{SYSTEM_PATH}",  # nbgrader runs alembic from there
    "LANG": "C.UTF-8",
    # nbgrader_config.py: the course's root and id, then the exchange and JupyterHubAuthPlugin as students have
    "JUPYTER_CONFIG_PATH": os.pathsep.join([settings["config_grader"], settings["config_students"]]),
}

c.JupyterHub.services = [
    {
        # formgrader: the grader's JupyterLab, shared by the instructors (nbgrader's "one class, multiple
        # graders"); the instructors' environment, so that its nbgrader is the instructors' (formgrader, Create
        # Assignment, the course's feedback preprocessors and autograder's own server extension).
        "name": COURSE,
        "url": f"http://127.0.0.1:{settings['formgrader_port']}",
        "command": [str(INSTRUCTORS_BIN / "jupyterhub-singleuser")],
        "user": GRADER,
        "cwd": settings["course_dir"],
        "environment": grader_environment | {"JUPYTERHUB_DEFAULT_URL": "/formgrader"},
        "oauth_no_confirm": True,
        "display": True,
    },
]

# Feedback on submit: notices a new hand-in in the exchange, collects it, grades it in the sandbox and releases
# its feedback; runs until SIGTERM (the hub stops it with itself). A service without a URL: nobody opens it.
if importlib.util.find_spec("autograder.service") is not None:
    c.JupyterHub.services.append(
        {
            "name": FEEDBACK_SERVICE,
            "command": [
                settings["instructors_python"],
                "-m",
                "autograder",
                "serve",
                "--course",
                settings["course_dir"],
                "--exchange",
                settings["exchange"],
                *(
                    ["--min-gap", str(settings["feedback_min_gap"])]
                    if settings.get("feedback_min_gap") is not None
                    else []
                ),
            ],
            "user": GRADER,
            "cwd": settings["course_dir"],
            "environment": grader_environment,
        }
    )

# The grader's role, for every service defined above (JupyterHub refuses a role naming an undefined one).
next(role for role in c.JupyterHub.load_roles if role["name"] == f"grader-{COURSE}")["services"] = [
    service["name"] for service in c.JupyterHub.services
]
