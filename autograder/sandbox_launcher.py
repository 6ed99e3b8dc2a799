"""The sandbox's launcher: run by ``python -I -S -c`` (its source, read as text by autograder.sandbox) as root
inside fresh namespaces, it builds the child's root file system, pivot_roots into it, limits it, drops every
privilege, then execs the child (autograder/sandbox_child.py). argv[1] is its JSON configuration
(``sandbox.namespaced`` writes it). It imports nothing of the course: with ``-I -S`` it sees the standard
library only. ``apply_rlimits`` is also the "limits" mode's (autograder.sandbox.Sandbox._start).
"""

import ctypes
import json
import os
import resource
import shutil
import sys

libc = ctypes.CDLL(None, use_errno=True)
MS_RDONLY, MS_NOSUID, MS_NODEV, MS_REMOUNT, MS_BIND, MS_REC, MS_PRIVATE = 1, 2, 4, 32, 4096, 16384, 1 << 18


def mount(src, dst, fstype, flags, data=None):
    if libc.mount(src and src.encode(), dst.encode(), fstype and fstype.encode(), flags, data and data.encode()) != 0:
        e = ctypes.get_errno()
        raise OSError(e, f"mount {src} on {dst}: {os.strerror(e)}")


def apply_rlimits(limits: dict[str, int]) -> None:
    """Set each resource limit ({"RLIMIT_AS": bytes, ...}) as soft and hard, never above the hard one in force."""
    for name, value in limits.items():
        kind = getattr(resource, name)
        hard = resource.getrlimit(kind)[1]
        value = value if hard == resource.RLIM_INFINITY else min(value, hard)
        resource.setrlimit(kind, (value, value))


def main(cfg: dict) -> None:
    if cfg.get("quiet"):  # nothing the child prints reaches whoever started it
        null = os.open("/dev/null", os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
    top = cfg["root"]
    mount(None, "/", None, MS_REC | MS_PRIVATE)
    mount("tmpfs", top, "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=0755")
    new = top + "/box"  # the child's root: a folder of the namespace's root (see pivot_root below)
    os.makedirs(new)
    mount(new, new, None, MS_BIND)
    # /tmp first: a Python installation under /tmp (a venv in a checkout there) is bound inside it.
    os.makedirs(new + "/tmp")
    mount("tmpfs", new + "/tmp", "tmpfs", MS_NOSUID | MS_NODEV, "size=64m,mode=1777")
    for path in cfg["binds"]:
        target = new + path
        if os.path.islink(path):
            os.makedirs(os.path.dirname(target), exist_ok=True)
            os.symlink(os.readlink(path), target)  # /lib -> usr/lib on merged-/usr systems, /etc/localtime
            continue
        if os.path.isdir(path):
            os.makedirs(target, exist_ok=True)
        else:
            os.makedirs(os.path.dirname(target), exist_ok=True)
            open(target, "w").close()
        mount(path, target, None, MS_BIND | MS_REC)
        nodev = 0 if path.startswith("/dev/") else MS_NODEV
        mount(None, target, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | nodev)
    for path, text in cfg.get("files", {}).items():  # files of its own (/etc/passwd: no user of the machine)
        os.makedirs(os.path.dirname(new + path), exist_ok=True)
        with open(new + path, "w") as fh:
            fh.write(text)
    for path in cfg.get("hide", []):  # folders of the binds it must not see (the grader's package): empty
        mount("tmpfs", new + path, "tmpfs", MS_NOSUID | MS_NODEV | MS_RDONLY, "size=4k,nr_inodes=1,mode=000")
    for path, inside, options, ignore in cfg.get("scratch", []):  # a tmpfs of its own (bounded), a copy in it
        os.makedirs(new + inside, exist_ok=True)
        mount("tmpfs", new + inside, "tmpfs", MS_NOSUID | MS_NODEV, options)
        shutil.copytree(path, new + inside, symlinks=True, dirs_exist_ok=True, ignore=shutil.ignore_patterns(*ignore))
        for folder, dirs, files in os.walk(new + inside):
            for name in [folder, *(os.path.join(folder, f) for f in dirs + files)]:
                os.lchown(name, cfg["uid"], cfg["uid"])
    mount(None, new, None, MS_BIND | MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)  # writable: /tmp and the scratch
    mount(None, top, None, MS_REMOUNT | MS_RDONLY | MS_NOSUID | MS_NODEV)
    # pivot_root: the tmpfs becomes the namespace's root and the machine's is unmounted, so nothing of
    # its file system is left in this mount namespace to climb back to. Then chroot into box/: a
    # chrooted process may not create a user namespace (where it would get capabilities back), and
    # without CAP_SYS_CHROOT (dropped below) it cannot leave for the empty tmpfs around it either.
    # (pivot_root has no libc wrapper: its system call number, per architecture; chroot alone elsewhere.)
    PIVOT_ROOT = {"x86_64": 155, "aarch64": 41, "riscv64": 41, "ppc64le": 203, "s390x": 217}.get(os.uname().machine)
    if PIVOT_ROOT is None:
        os.chroot(new)
    else:
        os.chdir(top)
        if libc.syscall(PIVOT_ROOT, b".", b".") != 0:
            raise OSError(ctypes.get_errno(), "pivot_root")
        if libc.umount2(b".", 2) != 0:  # MNT_DETACH: the old root, stacked on the new one
            raise OSError(ctypes.get_errno(), "umount2")
        os.chroot("/box")
    os.chdir(cfg.get("cwd", "/tmp"))
    apply_rlimits(cfg["limits"])
    # No capability survives, in any user namespace: a process that kept CAP_SYS_CHROOT could leave the
    # chroot (chroot into a subfolder, chdir("..") up to the real root, chroot(".")); a chrooted process
    # may not create a user namespace to get it back. Root of the machine also takes a user id of its own;
    # in a user namespace of the grader's, where only root is mapped, the child stays root without rights.
    PR_CAPBSET_DROP, PR_SET_SECUREBITS, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT = 24, 28, 38, 47
    # NOROOT and its lock, NO_SETUID_FIXUP and KEEP_CAPS locked off, NO_CAP_AMBIENT_RAISE and its lock.
    if libc.prctl(PR_SET_SECUREBITS, 0b11101011, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_SECUREBITS)")
    cap = 0
    while libc.prctl(PR_CAPBSET_DROP, cap, 0, 0, 0) == 0:  # every capability out of the bounding set ...
        cap += 1
    if cap == 0 or ctypes.get_errno() != 22:  # ... up to the last one (EINVAL after it)
        raise OSError(ctypes.get_errno(), f"prctl(PR_CAPBSET_DROP, {cap})")
    if cfg["uid"]:
        os.setgroups([])
        os.setgid(cfg["uid"])
        os.setuid(cfg["uid"])
    header = (ctypes.c_uint32 * 2)(0x20080522, 0)  # _LINUX_CAPABILITY_VERSION_3, this process
    if libc.capset(header, (ctypes.c_uint32 * 6)()) != 0 or libc.prctl(PR_CAP_AMBIENT, 4, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "capset")
    if libc.prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0:
        raise OSError(ctypes.get_errno(), "prctl(PR_SET_NO_NEW_PRIVS)")
    os.execve(cfg["argv"][0], cfg["argv"], cfg["env"])


if __name__ == "__main__":
    main(json.loads(sys.argv[1]))
