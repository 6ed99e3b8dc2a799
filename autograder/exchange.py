"""nbgrader's exchange, collected and returned safely: a hand-in counts for the student who made it, holds
only what it seems to hold, and is as late as it really is.

nbgrader's default exchange lets every student write into ``inbound/`` (mode 2733) and keeps each hand-in
in a folder its student owns and may change after ``submit``. nbgrader's ``collect``

* takes the student id from the folder's name (``<student>+<assignment>+<timestamp>+…``), only warning
  ("cheating attempt?") when the folder belongs to someone else: a hand-in in a classmate's name, dated
  in the future, replaced the classmate's work for good; a name it cannot read stopped it for everyone;
* copies the folder with ``shutil.copytree``, which follows symbolic links: a link to the course's
  answer key, the gradebook, ``/etc/shadow`` or a classmate's file arrived in ``submitted/`` as a plain
  file, and from there in the student's feedback; a link to ``/dev/zero`` filled the disk; a FIFO or a
  dangling link raised out of the loop, and nobody after that student was collected;
* keeps the hand-in's own ``timestamp.txt``, which the student may rewrite or delete: the late penalty
  ``grade`` computes from it was the student's to choose.

``OwnerCheckedCollect`` (``nbgrader_config.py`` makes it nbgrader's collect) reads every hand-in of the
assignment itself, through file descriptors, following nothing (``read_hand_in``). A hand-in made for
someone else, with a name that is not one, or that holds a link, a FIFO, a device, a socket, a file with
a second name (a hard link), a file that changes while it is read, too many files or too many bytes, is
set aside with an error line that says why; the student's latest hand-in that is none of these is
collected, into a fresh folder put in place once complete. Its time is the last time anything in it was
changed, as the machine's clock saw it (the files' *ctime*, which only root can set back; nobody can set
it to the past by writing), and ``timestamp.txt`` in ``submitted/`` says that time, whatever the student's
said: nbgrader's late penalty, formgrader and ``release_feedback`` read it there.

``SafeReleaseFeedback`` (``release_feedback``) releases each student's feedback on its own: one whose
``timestamp.txt`` or ``submission_secret.txt`` is missing (the student deleted the secret, say) is
named in an error line, and every other student's feedback is released.

``c.ExchangeCollect.check_owner = False`` turns the owner check off, as it turns nbgrader's warning off.

``OrderedReleaseAssignment`` (``release_assignment``) releases an assignment only once every earlier assignment
whose graded solutions its release gives students (``EARLIER_SOLUTIONS`` in autograder/course.py: 04's given
cells hold 03's ``cost`` and a vectorized ``backprop``) is past its due date in the gradebook; otherwise it says
which, what it gives away, the due date, and how to go on, and leaves the exchange as it was.
"""

from __future__ import annotations

import contextlib
import fnmatch
import glob
import os
import re
import shutil
import stat
import tempfile
import warnings
from dataclasses import dataclass
from datetime import datetime, timedelta

from dateutil.tz import UTC, gettz
from nbgrader.exchange.default.collect import ExchangeCollect
from nbgrader.exchange.default.release_assignment import ExchangeReleaseAssignment
from nbgrader.exchange.default.release_feedback import ExchangeReleaseFeedback
from traitlets import Bool

from .course import EARLIER_SOLUTIONS, plain_student
from .grading.report import shown

try:
    import pwd
except ImportError:  # Windows: no owners to check, as in nbgrader
    pwd = None

#: How many files and folders, and how deep, a hand-in may hold (a release holds a notebook or two).
MAX_ENTRIES = 1000
MAX_DEPTH = 16
#: A hand-in's own timestamp.txt may say an earlier time than its files' by this much (submit writes the
#: time first, then copies the files) before collect says so in a warning.
CLAIM_TOLERANCE = timedelta(minutes=1)


class Refused(Exception):
    """A hand-in that is not collected; the message says why."""


def owner(path: str) -> str:
    """The user name of path's owner (of a link itself, not of what it points to); "unknown id" where
    the id has no name."""
    try:
        return pwd.getpwuid(os.lstat(path).st_uid).pw_name
    except KeyError:
        return "unknown id"


@dataclass
class Limits:
    """What a hand-in may hold: bytes per file (a larger file is left out, as nbgrader does) and in all."""

    file_bytes: int
    total_bytes: int
    ignore: tuple[str, ...] = ()  # names never copied (nbgrader's CourseDirectory.ignore)


def read_hand_in(path: str, dest: str | None = None, limits: Limits | None = None, log=None) -> int:
    """Read the hand-in folder path, following nothing; copy it to dest (a folder to make) if given.

    Every folder and file is opened relative to its parent's descriptor with O_NOFOLLOW and checked
    after it is opened (its fstat must be what lstat said, and the same after it was read), so that
    nothing swapped in meanwhile is followed or read. Returns the hand-in's time: the latest ctime,
    in ns, of anything in it. Raises Refused (why, in words) on anything but plain files and folders.
    """
    limits = limits or Limits(file_bytes=2**63, total_bytes=2**63)
    total = entries = 0
    latest = 0

    def changed(rel: str) -> Refused:
        return Refused(f"{rel} changed while it was collected (the hand-in is collected once it stays as it is)")

    def open_dir(name: str, parent: int | None, rel: str, before: os.stat_result) -> tuple[int, os.stat_result]:
        """Open a folder (before: what lstat said of it); its descriptor and its fstat."""
        refuse_kind(before, rel, folder=True)
        try:
            fd = os.open(name, os.O_RDONLY | os.O_DIRECTORY | os.O_NOFOLLOW | os.O_CLOEXEC, dir_fd=parent)
        except OSError as error:
            raise Refused(f"{rel} could not be read ({error.strerror})") from None
        after = os.fstat(fd)
        if (after.st_dev, after.st_ino) != (before.st_dev, before.st_ino):
            os.close(fd)
            raise changed(rel)
        return fd, after

    def copy_file(name: str, parent: int, rel: str, target: str | None, before: os.stat_result) -> int:
        """Copy one file to target (None: only check it; before: what lstat said of it); its ctime."""
        refuse_kind(before, rel, folder=False)
        if before.st_nlink != 1:
            raise Refused(f"{rel} has another name (a hard link to a file elsewhere)")
        try:
            fd = os.open(name, os.O_RDONLY | os.O_NOFOLLOW | os.O_NONBLOCK | os.O_NOCTTY | os.O_CLOEXEC, dir_fd=parent)
        except OSError as error:
            raise Refused(f"{rel} could not be read ({error.strerror})") from None
        try:
            first = os.fstat(fd)
            if (first.st_dev, first.st_ino) != (before.st_dev, before.st_ino) or not stat.S_ISREG(first.st_mode):
                raise changed(rel)
            if target is not None and first.st_size > limits.file_bytes:
                if log is not None:
                    log.warning(
                        "Not collected: %s, larger than %d bytes (c.CourseDirectory.max_file_size)",
                        shown(rel, 500),
                        limits.file_bytes,
                    )
            elif target is not None:
                with open(target, "xb") as out:
                    left = first.st_size
                    while chunk := os.read(fd, min(1 << 20, left + 1)):  # one byte more: a file that grew
                        out.write(chunk)
                        left -= len(chunk)
                        if left < 0:
                            break
                if left != 0:
                    raise changed(rel)
            last = os.fstat(fd)
        finally:
            os.close(fd)
        if (last.st_size, last.st_mtime_ns, last.st_ctime_ns) != (first.st_size, first.st_mtime_ns, first.st_ctime_ns):
            raise changed(rel)
        return last.st_ctime_ns

    top, top_stat = open_dir(path, None, os.path.basename(path) + "/", os.lstat(path))
    if dest is not None:
        os.mkdir(dest, 0o755)
    stack = [(top, top_stat, "", dest, iter(sorted(os.listdir(top))))]
    try:
        while stack:
            fd, folder_stat, rel, target, names = stack[-1]
            name = next(names, None)
            if name is None:  # the folder is done: it must be as it was when it was opened
                now = os.fstat(fd)
                if now.st_ctime_ns != folder_stat.st_ctime_ns:
                    raise changed(rel or "the folder")
                latest = max(latest, now.st_ctime_ns)
                os.close(fd)
                stack.pop()
                continue
            entries += 1
            if entries > MAX_ENTRIES:
                raise Refused(f"it holds more than {MAX_ENTRIES} files and folders")
            child = rel + name
            info = os.stat(name, dir_fd=fd, follow_symlinks=False)
            copied = target is not None and not any(fnmatch.fnmatch(name, p) for p in limits.ignore)
            if stat.S_ISDIR(info.st_mode):
                if len(stack) >= MAX_DEPTH:
                    raise Refused(f"{child}/ lies more than {MAX_DEPTH} folders deep")
                sub, sub_stat = open_dir(name, fd, child + "/", info)
                sub_target = os.path.join(target, name) if copied else None
                if sub_target is not None:
                    os.mkdir(sub_target, 0o755)
                stack.append((sub, sub_stat, child + "/", sub_target, iter(sorted(os.listdir(sub)))))
            else:
                if stat.S_ISREG(info.st_mode) and copied:
                    total += info.st_size if info.st_size <= limits.file_bytes else 0
                    if total > limits.total_bytes:
                        raise Refused(f"it holds more than {limits.total_bytes} bytes (c.CourseDirectory.max_dir_size)")
                latest = max(latest, copy_file(name, fd, child, os.path.join(target, name) if copied else None, info))
    finally:
        for fd, *_ in stack:
            os.close(fd)
    return latest


def refuse_kind(info: os.stat_result, rel: str, folder: bool) -> None:
    """Raise Refused unless info is a plain folder (folder) or a plain file (not folder)."""
    mode = info.st_mode
    if stat.S_ISLNK(mode):
        raise Refused(f"{rel} is a symbolic link (to {'a folder' if folder else 'a file'} elsewhere, or to nothing)")
    if stat.S_ISDIR(mode) or stat.S_ISREG(mode):
        if stat.S_ISDIR(mode) != folder:
            raise Refused(f"{rel} is {'a file where a folder was expected' if folder else 'a folder'}")
        return
    kind = {stat.S_IFIFO: "a FIFO", stat.S_IFCHR: "a device", stat.S_IFBLK: "a device", stat.S_IFSOCK: "a socket"}
    raise Refused(f"{rel} is {kind.get(stat.S_IFMT(mode), 'not a plain file')}")


def utc(ns: int) -> datetime:
    """A time in ns since the epoch as nbgrader keeps times: UTC, without a time zone."""
    return datetime.fromtimestamp(ns / 1e9, UTC).replace(tzinfo=None)


#: A time as nbgrader's submit writes it ("%Y-%m-%d %H:%M:%S.%f %Z"), its zone a name of letters or an offset
#: (%Z writes "-03" for America/Sao_Paulo).
_CLAIM = re.compile(
    r"(\d{4}-\d\d-\d\d)[ T](\d\d:\d\d:\d\d)(?:\.(\d{1,6}))?(?: ?(?:([A-Za-z]{1,6})|([+-])(\d\d)(?::?(\d\d))?))?"
)


def claimed(text: str) -> datetime | None:
    """The time a hand-in's name or timestamp.txt says (UTC, naive, as nbgrader keeps it), or None.

    Read strictly, never with nbgrader's parse_utc: that hands the zone to dateutil's gettz, which opens
    any path it is given (a hand-in named "… /proc/kmsg+x" blocked collect; "… .." raised out of it).
    A zone name is one of letters only, looked up among the machine's zones. (The time of a hand-in is
    the machine's: read_hand_in. What it claims is only compared with that, in a warning.)
    """
    match = _CLAIM.fullmatch(text.strip()[:64])
    if match is None:
        return None
    day, clock, fraction, zone, sign, hours, minutes = match.groups()
    try:
        when = datetime.fromisoformat(f"{day}T{clock}.{(fraction or '0').ljust(6, '0')}")
        if sign:
            return when - (1 if sign == "+" else -1) * timedelta(hours=int(hours), minutes=int(minutes or 0))
        if zone is None or zone.upper() in ("UTC", "GMT", "Z"):
            return when
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            tz = gettz(zone)
        # a zone it does not know (PST): read as UTC, as nbgrader does (it is a claim, said in a warning only)
        return when if tz is None else when.replace(tzinfo=tz).astimezone(UTC).replace(tzinfo=None)
    except Exception:  # a date that is not one (2026-13-45), a zone dateutil cannot read: no claim
        return None


class OwnerCheckedCollect(ExchangeCollect):
    """nbgrader's ExchangeCollect, which collects a student's latest hand-in that they made themselves and
    that holds only plain files and folders, timed by the machine's clock (see the module).

    A hand-in it refuses gets a group of its own (so that the student's own latest is still chosen) and
    ``refused``, the error ``copy_files`` says instead of collecting it.
    """

    def _limits(self) -> Limits:
        return Limits(
            file_bytes=1000 * self.coursedir.max_file_size,
            total_bytes=1000 * self.coursedir.max_dir_size,
            ignore=tuple(self.coursedir.ignore),
        )

    def _path_to_record(self, path):
        """nbgrader's record of a hand-in (its student, from the folder's name), its time the machine's; a
        hand-in it refuses has "refused" (why) and a group of its own. The name is read here, strictly
        (``claimed``): nbgrader's own reading stopped collect for everyone on a name it could not read. Nothing
        here stops collect: a folder gone as it is read (a student may remove theirs) is refused too."""
        try:
            return self._record(path)
        except Exception as error:
            name = os.path.basename(path)
            why = f"{path} could not be read ({type(error).__name__}: {error})"
            return {"username": f"(unreadable: {name})", "filename": name, "timestamp": datetime.min, "refused": why}

    def _record(self, path):
        name = os.path.basename(path)
        # <student>+<assignment>+<time>[+<random>]: a student id has no "+", a random string neither (urlsafe
        # base64), but a time may ("+04"), so it is read with and without what follows its last "+".
        student, _, rest = name.partition(f"+{self.coursedir.assignment_id}+")
        when = claimed(rest) or claimed(rest.rpartition("+")[0])
        if when is None or not plain_student(student):  # a student id as grade takes it: not "..", no escape code
            why = f"{path}, whose name is not <student>+<assignment>+<timestamp>+…"
            return {"username": f"(unreadable: {name})", "filename": name, "timestamp": datetime.min, "refused": why}
        record = {"username": student, "filename": name, "timestamp": when, "claimed": when}
        if self.check_owner and pwd is not None:
            made_by = owner(path)
            if made_by != record["username"]:
                record["refused"] = (
                    f"{path} names a student but was handed in by {made_by} (a submission made for someone else); "
                    "that student's own hand-ins are collected. Set c.ExchangeCollect.check_owner = False to "
                    "collect it anyway."
                )
                record["username"] = f"{record['username']} (handed in by {made_by})"
                return record
        # Its time is the machine's, not the one its name or timestamp.txt claims; one that holds anything but
        # plain files and folders is set aside here, so that the student's latest plain one is chosen instead.
        try:
            record["timestamp"] = utc(read_hand_in(path, limits=self._limits()))
        except (Refused, OSError) as error:
            why = error if isinstance(error, Refused) else f"it could not be read ({error})"
            record["refused"] = f"{path}: {why}"
            record["username"] = f"{record['username']} (set aside: {name})"
            record["timestamp"] = datetime.min
        return record

    def copy_files(self):
        for rec in self.src_records:
            if "refused" in rec:
                self.log.error("Not collected: %s", shown(rec["refused"], 2000))
        self.src_records = [rec for rec in self.src_records if "refused" not in rec]
        if not self.src_records:
            self.log.warning(
                "No submissions of '%s' for course '%s' to collect",
                self.coursedir.assignment_id,
                self.coursedir.course_id,
            )
        for rec in self.src_records:
            try:
                self._collect(rec)
            except Exception as error:  # this student's hand-in, not the class's collect: said, and the next goes on
                where = os.path.join(self.inbound_path, rec["filename"])
                self.log.error("Not collected: %s", shown(f"{where}: {error}", 2000))

    def _collect(self, rec: dict) -> None:
        """Collect one student's hand-in (nbgrader's rules for --update and --before-duedate)."""
        student, assignment = rec["username"], self.coursedir.assignment_id  # a plain student id (_path_to_record)
        src = os.path.join(self.inbound_path, rec["filename"])
        dest = self.coursedir.format_path(self.coursedir.submitted_directory, student, assignment)
        if os.path.isdir(dest):
            existing = self.coursedir.get_existing_timestamp(dest)
            newer = existing is None or rec["timestamp"] > existing
            if not ((self.update and newer) or (self.before_duedate and existing != rec["timestamp"])):
                if self.update:
                    self.log.info("No newer submission to collect: %s %s", student, assignment)
                else:
                    self.log.info("Submission already exists, use --update to update: %s %s", student, assignment)
                return
        os.makedirs(os.path.dirname(dest), exist_ok=True)
        scratch = tempfile.mkdtemp(prefix=f".{assignment}-collecting-", dir=os.path.dirname(dest))
        try:
            fresh = os.path.join(scratch, assignment)
            when = max(rec["timestamp"], utc(read_hand_in(src, fresh, self._limits(), self.log)))
            self._write_timestamp(fresh, when, rec)
            if os.path.isdir(dest):
                self.log.info("Updating submission: %s %s", student, assignment)
                os.rename(dest, os.path.join(scratch, "replaced"))
            else:
                self.log.info("Collecting submission: %s %s", student, assignment)
            os.rename(fresh, dest)
            if self.coursedir.groupshared:  # as nbgrader's collect leaves it: the instructors' group may write
                for folder, _, files in os.walk(dest):
                    os.chmod(folder, 0o2770)
                    for name in files:
                        os.chmod(os.path.join(folder, name), 0o660)
        finally:
            shutil.rmtree(scratch, ignore_errors=True)

    def _write_timestamp(self, folder: str, when: datetime, rec: dict) -> None:
        """timestamp.txt in the collected folder: when, in the exchange's format and time zone; a warning
        where the student's own said an earlier time, by more than CLAIM_TOLERANCE."""
        zone = gettz(self.timezone) or UTC
        text = when.replace(tzinfo=UTC).astimezone(zone).strftime(self.timestamp_format)
        said = [rec["claimed"]]
        own = os.path.join(folder, "timestamp.txt")
        with contextlib.suppress(OSError, UnicodeDecodeError), open(own) as fh:
            said.append(claimed(fh.read(100)))  # what the student wrote there: a claim, read as one
        earliest = min(c for c in said if c is not None)
        if when - earliest > CLAIM_TOLERANCE:
            self.log.warning(
                "%s's hand-in says it was made at %s; its files were last changed at %s, which is its time",
                shown(rec["username"], 200),
                earliest,
                when,
            )
        with contextlib.suppress(FileNotFoundError):
            os.unlink(own)
        with open(own, "w") as fh:
            fh.write(text)
        if not os.path.isfile(os.path.join(folder, "submission_secret.txt")):
            self.log.warning(
                "%s's hand-in has no submission_secret.txt: their feedback cannot be released to them",
                shown(rec["username"], 200),
            )


class SafeReleaseFeedback(ExchangeReleaseFeedback):
    """nbgrader's ExchangeReleaseFeedback, one student at a time: a student whose feedback cannot be
    released (no timestamp.txt or submission_secret.txt beside it) is named in an error line, and the
    others' feedback is released."""

    def copy_files(self):
        pattern = self.src_path
        for folder in sorted(glob.glob(pattern)):
            self.src_path = folder
            try:
                super().copy_files()
            except Exception as error:  # this student's feedback, not the class's: said, and the next one goes on
                self.log.error("Feedback not released from %s: %s: %s", folder, type(error).__name__, error)
        self.src_path = pattern


@dataclass
class Open:
    """An earlier assignment whose graded solutions a release gives students, not past its due date."""

    assignment: str
    functions: tuple[str, ...]  # its graded functions that the release holds, working
    due: datetime | None  # UTC, naive, as nbgrader keeps times; extensions included; None: none known
    why: str  # its due date in words, or why none is known


def _deadlines(db_url: str, course_id: str, names: list[str]) -> tuple[dict[str, datetime | None], str | None]:
    """({name: its due date, UTC and naive, the latest extension included, or None where it has none; a name
    the gradebook does not hold is left out}, why no due date is known at all, or None). A gradebook file that
    is missing is not made (nbgrader's Gradebook would make an empty one)."""
    from nbgrader.api import Gradebook, MissingEntry
    from sqlalchemy.engine import make_url

    try:
        url = make_url(db_url)
        shown_url = url.render_as_string(hide_password=True)
    except Exception:  # not a URL (and, unread, it is not shown: it may hold a password)
        return {}, "c.CourseDirectory.db_url is not a database URL"
    if url.get_backend_name() == "sqlite" and url.database not in (None, "", ":memory:"):
        if not os.path.isfile(url.database):
            return {}, f"there is no gradebook at {url.database} (c.CourseDirectory.db_url)"
    found: dict[str, datetime | None] = {}
    try:
        with Gradebook(db_url, course_id) as gb:
            for name in names:
                try:
                    assignment = gb.find_assignment(name)
                except MissingEntry:
                    continue
                due = assignment.duedate
                if due is not None:  # a student's extension keeps it open for them: the latest one counts
                    dues = [due, *(s.duedate for s in assignment.submissions if s.duedate is not None)]
                    due = max(d if d.tzinfo is None else d.astimezone(UTC).replace(tzinfo=None) for d in dues)
                found[name] = due
    except Exception as error:
        said = (str(error).strip().splitlines() or [""])[0]  # SQLAlchemy's first line; the SQL and a link follow
        return {}, f"the gradebook {shown_url} could not be read ({type(error).__name__}: {shown(said, 300)})"
    return found, None


def still_open(
    assignment: str, db_url: str, course_id: str, now: datetime | None = None
) -> tuple[list[Open], str | None]:
    """(The earlier assignments whose graded functions assignment's release gives students in working form
    (``EARLIER_SOLUTIONS``) and that are not past their due date at now (UTC, naive; default: the clock's), in
    the course's order; why no due date is known at all, or None). Without a due date (none set, not in the
    gradebook, no gradebook or one that cannot be read) an assignment counts as open: nothing says that its
    students are done. Times are compared in UTC, as nbgrader keeps them (``nbgrader db assignment add A
    --duedate="… Europe/Berlin"`` stores the UTC time)."""
    earlier = EARLIER_SOLUTIONS.get(assignment, {})
    if not earlier:
        return [], None
    now = now or datetime.now(UTC).replace(tzinfo=None)
    dues, unknown = _deadlines(db_url, course_id, list(earlier))
    out = []
    for name, functions in earlier.items():
        due = dues.get(name)
        if unknown:
            out.append(Open(name, functions, None, "no due date known (below)"))
        elif name not in dues:
            out.append(Open(name, functions, None, "not in the gradebook, so no due date"))
        elif due is None:
            out.append(Open(name, functions, None, "no due date in the gradebook"))
        elif due > now:
            out.append(Open(name, functions, due, f"due {due:%Y-%m-%d %H:%M:%S} UTC, still to come"))
    return out, unknown


class OrderedReleaseAssignment(ExchangeReleaseAssignment):
    """nbgrader's ExchangeReleaseAssignment, which releases an assignment only once every earlier assignment
    whose graded solutions its release gives students is past its due date (see ``still_open``).

    The check runs in ``init_dest``, before nbgrader's. nbgrader's ``start`` makes sure of the exchange's root
    (``ensure_root``: made if missing, its mode set), then calls ``init_src``, which finds release/<assignment>
    (a missing release is said first, as nbgrader says it), ``init_dest``, the first step that writes into the
    exchange (the course's folder, its outbound/ and inbound/), and ``copy_files``. A refusal in ``init_dest``
    leaves the course's folder in the exchange as it was: none made, nothing of the assignment in outbound/, one
    released before left as it is (with ``--force`` too, whose removal is ``copy_files``'s). ``start`` is left
    alone, so that nbgrader's order of steps and its errors stay its own; in ``copy_files`` the check would come
    after the course's folders were made.

    ``allow_early`` releases anyway, with a warning that names what is given away: for an instructor who knows
    (a self-paced course, an assignment released to a class that is not graded on the earlier one).
    """

    allow_early = Bool(
        False,
        help="Release even where an earlier assignment whose graded solutions this release gives students "
        "(autograder/course.py: EARLIER_SOLUTIONS) is not past its due date in the gradebook, or has none.",
    ).tag(config=True)

    def init_dest(self):
        self.check_order()
        super().init_dest()

    def check_order(self) -> None:
        """Fail (nbgrader's ExchangeError, after a log line that says what to do) where the release would give
        students solutions of an assignment still open; with allow_early, only warn."""
        assignment = self.coursedir.assignment_id
        still, unknown = still_open(assignment, self.coursedir.db_url, self.coursedir.course_id)
        if not still:
            return
        zone = self.timezone if gettz(self.timezone) is not None else "UTC"
        lines = []
        for o in still:
            when = o.why
            if o.due is not None and zone.upper() not in ("UTC", "GMT", "Z", "ETC/UTC"):
                local = o.due.replace(tzinfo=UTC).astimezone(gettz(zone))
                when += f" ({local:%Y-%m-%d %H:%M:%S} {zone})"
            lines.append(f"  {o.assignment} ({', '.join(o.functions)}): {when}")
        if unknown:
            lines.append(f"  (no due date is known: {unknown})")
        given = (
            f"{assignment}'s release gives students the working solutions of earlier assignments that are not "
            "past their due date:\n" + "\n".join(lines)
        )
        if self.allow_early:
            self.log.warning("%s\nReleased anyway (OrderedReleaseAssignment.allow_early).", given)
            return
        first = still[0].assignment
        self.fail(
            f"{given}\n"
            "Nothing was released: assignments are released one after another's deadline. Either\n"
            f"  - release {assignment} again once each of these is past its due date (set or change one with "
            f'nbgrader db assignment add {first} --duedate="YYYY-MM-DD HH:MM:SS ZONE", ZONE such as UTC or '
            "Europe/Berlin, UTC without one; or in formgrader's Manage Assignments), or\n"
            "  - release it now anyway (a self-paced course, say): --OrderedReleaseAssignment.allow_early=True, "
            "or c.OrderedReleaseAssignment.allow_early = True in nbgrader_config.py."
        )
