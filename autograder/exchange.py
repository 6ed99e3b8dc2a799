"""nbgrader's exchange, collected safely: a hand-in counts only for the student who made it.

nbgrader's default exchange lets every student write into ``inbound/`` (mode 2733), and its
``collect`` takes the student id from the folder's name (``<student>+<assignment>+<timestamp>+…``),
only warning ("cheating attempt?") when the folder's owner is someone else. So a student who hands in
a folder named for a classmate, with a timestamp in the future, replaces the classmate's submission
for good (nbgrader collects the latest); and a folder whose name nbgrader cannot read (a timestamp
that is not one) stops nbgrader's collect for everyone. ``OwnerCheckedCollect`` (``nbgrader_config.py``
makes it nbgrader's collect) sets such folders aside before the latest of each student is chosen, and
says so as an error; the student's own hand-ins are collected as before.
``c.ExchangeCollect.check_owner = False`` turns the owner check off, as it turns nbgrader's warning off.
"""

from __future__ import annotations

import os
from datetime import datetime

from nbgrader.exchange.abc.exchange import ExchangeError
from nbgrader.exchange.default.collect import ExchangeCollect

try:
    import pwd
except ImportError:  # Windows: no owners to check, as in nbgrader
    pwd = None


def owner(path: str) -> str:
    """The user name of path's owner ("unknown id" where it has none)."""
    try:
        return pwd.getpwuid(os.stat(path).st_uid).pw_name
    except KeyError:
        return "unknown id"


class OwnerCheckedCollect(ExchangeCollect):
    """nbgrader's ExchangeCollect, which collects only hand-ins owned by the student they name.

    A hand-in it refuses gets a group of its own (so that the student's own latest is still chosen) and
    ``refused``, the error ``copy_files`` says instead of collecting it.
    """

    def _path_to_record(self, path):
        try:
            record = super()._path_to_record(path)
        except (ExchangeError, ValueError, OverflowError) as error:
            # A folder whose name nbgrader cannot read (anyone may make one in inbound/): nbgrader's collect
            # stopped there for the whole class.
            name = os.path.basename(path)
            why = f"{path}, whose name is not <student>+<assignment>+<timestamp>+…: {error}"
            return {"username": f"(unreadable: {name})", "filename": name, "timestamp": datetime.min, "refused": why}
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

    def copy_files(self):
        for rec in self.src_records:
            if "refused" in rec:
                self.log.error("Not collected: %s", rec["refused"])
        self.src_records = [rec for rec in self.src_records if "refused" not in rec]
        super().copy_files()
