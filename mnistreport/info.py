"""Who and what: report.toml at the repository root names the author, the course and the title.

It is shown on the report's top, on the deck's title slide and in the PDF. Every key is optional; a missing file
gives the defaults (no title: the first notebook's first heading), a malformed one a one-line error naming the
file. Empty fields are left off the pages; `date` defaults to the day the page is built.

    title = "LeNet-5 vs a custom MLP on MNIST"
    subtitle = "One parameter budget; regularization measured over seeds"
    author = "Ada Lovelace"
    student_id = "s1234567"
    course = "Deep Learning, autumn 2025"
    date = 2025-12-01   # or a string; omitted: the day the page is built
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import os
import tomllib
from dataclasses import dataclass
from pathlib import Path

from mnistlib import paths

REPORT_TOML = paths.ROOT / "report.toml"


class ReportInfoError(ValueError):
    """report.toml cannot be used; the message names the file."""


@dataclass(frozen=True)
class ReportInfo:
    """What the pages say about themselves. Empty fields are left off the pages (an empty title: see export)."""

    title: str = ""
    subtitle: str = ""
    author: str = ""
    student_id: str = ""
    course: str = ""
    date: str = ""

    def shown_date(self) -> str:
        """The date as the pages print it: the one given, else today ("1 December 2025")."""
        return self.date or _day(dt.date.today())

    def byline(self) -> str:
        """One line: author (student id), course, date; whichever are set."""
        who = self.author + (f" ({self.student_id})" if self.student_id else "") if self.author else self.student_id
        return " · ".join(part for part in (who, self.course, self.shown_date()) if part)


def _day(day: dt.date) -> str:
    return f"{day.day} {day:%B %Y}"


def load_info(path: str | os.PathLike[str] | None = None) -> ReportInfo:
    """report.toml (default: at the repository root) read with tomllib; a missing file gives the defaults."""
    path = Path(path) if path is not None else REPORT_TOML
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError:
        return ReportInfo()
    except tomllib.TOMLDecodeError as exc:
        raise ReportInfoError(f"{path}: not valid TOML ({exc})") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise ReportInfoError(f"{path}: cannot be read ({exc})") from exc
    known = [f.name for f in dataclasses.fields(ReportInfo)]
    unknown = sorted(set(data) - set(known))
    if unknown:
        raise ReportInfoError(f"{path}: unknown key {unknown[0]!r} (known: {', '.join(known)})")
    values = {}
    for key, value in data.items():
        if key == "date" and isinstance(value, dt.date) and not isinstance(value, dt.datetime):
            value = _day(value)
        if not isinstance(value, str):
            raise ReportInfoError(f"{path}: {key} must be a string, got {type(value).__name__} {value!r}")
        values[key] = " ".join(value.split())  # one line each on the pages
    return ReportInfo(**values)
