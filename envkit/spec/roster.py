"""Roster CSV files: envkit's own, GitHub Classroom's export and Classroom 50's roster.csv,
from a local file or from the class's S3 bucket.

Three headers are recognised (case and surrounding spaces ignored):

- envkit: ``id,email`` or ``id,email,name``.
- GitHub Classroom's exported ``classroom_roster.csv``:
  ``identifier,github_username,github_id,name``. The student is their GitHub username; a
  row whose ``github_username`` is empty (a roster entry no account has claimed yet) has
  nobody to give a lab to and is skipped. ``identifier`` is used as the email when it is one.
- Classroom 50's ``roster.csv`` (foundation50/classroom50
  cli/gh-teacher/internal/configrepo/students_csv.go, ``RosterColumns``):
  ``username,first_name,last_name,email,section,github_id`` then optionally ``role`` and
  extra columns. The student is ``username``; rows without one (pending email invitations)
  and rows whose ``role`` is ``teacher`` or ``ta`` are skipped. Cells Classroom 50 defanged
  against spreadsheet formulas (a leading ``'`` before ``= + - @``) are read back as written.

A roster may live in the backend's bucket (``roster: {csv: s3://bucket/key}``) so personal
data never enters the repository; it is read with the ambient AWS credentials (the same the
class's CI job or the teacher's shell deploys with) and the same size bound as a file.
"""

from __future__ import annotations

import csv
import io
import re
from pathlib import Path

from ..errors import SpecError, SpecIssue

S3_URL = re.compile(r"^s3://([a-z0-9][a-z0-9.-]{1,61}[a-z0-9])/(.{1,1024})$")

ENVKIT = "envkit"
GITHUB_CLASSROOM = "GitHub Classroom classroom_roster.csv"
CLASSROOM50 = "Classroom 50 roster.csv"
_GITHUB_CLASSROOM_HEADER = ["identifier", "github_username", "github_id", "name"]
_CLASSROOM50_HEADER = ["username", "first_name", "last_name", "email", "section", "github_id"]
_STAFF_ROLES = ("teacher", "ta")
_DEFANGED = re.compile(r"^'[=+\-@\t\r]")


def s3_problem(url: str) -> str | None:
    """Why ``url`` is not an ``s3://bucket/key`` roster location (None when it is)."""
    return None if S3_URL.match(url) else (
        f"'{url[:80]}' is not an S3 location: write s3://bucket/key (a bucket name of "
        "lowercase letters, digits, '.' and '-')")


def read_roster_text(where: str | Path, limit: int) -> tuple[str, str]:
    """The roster's text and the name to report it by: a local file through the bounded
    reader, or an ``s3://`` object read with the ambient AWS credentials."""
    from ..limits import read_text

    if isinstance(where, str) and where.startswith("s3://"):
        return _read_s3(where, limit), where
    return read_text(where, "roster", limit, encoding="utf-8-sig"), str(where)


def _read_s3(url: str, limit: int) -> str:
    import boto3
    from botocore.config import Config
    from botocore.exceptions import BotoCoreError, ClientError

    match = S3_URL.match(url)
    if match is None:
        raise SpecError(SpecIssue("classroom.roster.csv", s3_problem(url) or url))
    bucket, key = match.groups()

    def fail(message: str) -> SpecError:
        return SpecError(SpecIssue("", message, file=url))

    # Short timeouts: a roster is small, and a wrong endpoint must not hang a CLI.
    config = Config(connect_timeout=5, read_timeout=15, retries={"max_attempts": 2})
    try:
        client = boto3.session.Session().client("s3", config=config)
        head = client.head_object(Bucket=bucket, Key=key)
        if int(head.get("ContentLength") or 0) > limit:
            raise fail(f"the roster is {int(head['ContentLength']):,} bytes; the limit is "
                       f"{limit:,}")
        body = client.get_object(Bucket=bucket, Key=key)["Body"]
        data = body.read(limit + 1)  # an object that grew since the HEAD is still cut here
        body.close()
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "")
        reason = {"404": "no such object", "NoSuchKey": "no such object",
                  "NoSuchBucket": "no such bucket", "403": "access denied",
                  "AccessDenied": "access denied"}.get(code, code or "error")
        raise fail(f"cannot read the roster: {reason} (S3 says {code or 'nothing'})") from None
    except BotoCoreError as exc:
        raise fail(f"cannot read the roster: {exc}") from None
    if len(data) > limit:
        raise fail(f"the roster is larger than {limit:,} bytes")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError:
        raise fail("the roster is not UTF-8 text") from None


def roster_format(header: list[str]) -> str | None:
    """Which roster format a (lowercased, stripped) header is, None when none."""
    if header in (["id", "email"], ["id", "email", "name"]):
        return ENVKIT
    if header == _GITHUB_CLASSROOM_HEADER:
        return GITHUB_CLASSROOM
    if header[:len(_CLASSROOM50_HEADER)] == _CLASSROOM50_HEADER:
        return CLASSROOM50
    return None


def _undefang(cell: str) -> str:
    return cell[1:] if _DEFANGED.match(cell) else cell


def row_fields(form: str, cells: dict[str, str]) -> dict[str, str] | None:
    """A row as ``{id, email, name}`` in envkit's terms; None for a row that names nobody
    to deploy for (unclaimed, a pending invitation, a teacher or TA)."""
    if form == ENVKIT:
        return {"id": cells["id"], "email": cells["email"], "name": cells.get("name", "")}
    if form == GITHUB_CLASSROOM:
        if not cells["github_username"]:
            return None
        identifier = cells["identifier"]
        return {"id": cells["github_username"],
                "email": identifier if "@" in identifier else "",
                "name": cells["name"]}
    cells = {k: _undefang(v) for k, v in cells.items()}
    if not cells["username"] or cells.get("role", "").lower() in _STAFF_ROLES:
        return None
    name = " ".join(p for p in (cells["first_name"], cells["last_name"]) if p)
    return {"id": cells["username"], "email": cells["email"], "name": name}


def _shape(header: list[str]) -> str:
    """What a first line looks like, without a word of its text."""
    if not any(header):
        return "an empty line"
    return f"a line of {len(header)} field{'s' if len(header) != 1 else ''}, " \
           f"{sum(len(h) for h in header)} characters"


def parse_rows(text: str, file: str) -> tuple[str, list[tuple[int, dict[str, str]]],
                                                list[SpecIssue]]:
    """The format, each usable row with its line, and the rows' shape problems."""
    reader = csv.reader(io.StringIO(text, newline=""), strict=True)
    rows: list[tuple[int, dict[str, str]]] = []
    issues: list[SpecIssue] = []
    try:
        header = [h.strip().lower() for h in next(reader, [])]
        form = roster_format(header)
        if form is None:
            # Never quote what was found: until a header matches, the file may be anything
            # (a key, the passphrase), and an error message ends up in terminals and logs.
            raise SpecError(SpecIssue(
                "", "the first line must be a roster header: id,email[,name] (envkit), "
                    f"{','.join(_GITHUB_CLASSROOM_HEADER)} ({GITHUB_CLASSROOM}) or "
                    f"{','.join(_CLASSROOM50_HEADER)}[,role,...] ({CLASSROOM50}); found "
                    f"{_shape(header)}", file=file, line=1))
        for row in reader:
            if not any(cell.strip() for cell in row):
                continue
            if len(row) != len(header):
                issues.append(SpecIssue("", f"expected {len(header)} fields "
                                            f"({','.join(header)[:80]}), found {len(row)}",
                                        file=file, line=reader.line_num))
                continue
            fields = row_fields(form, dict(zip(header, (c.strip() for c in row), strict=True)))
            if fields is not None:
                rows.append((reader.line_num, fields))
    except csv.Error as exc:
        raise SpecError(SpecIssue("", f"malformed CSV: {exc}", file=file,
                                  line=reader.line_num)) from None
    return form, rows, issues
