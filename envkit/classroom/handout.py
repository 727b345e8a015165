"""Handouts: what each student needs to start, written for the instructor to hand out.

:func:`render_handouts` is a pure function from each student stack's outputs (as
``Environment.outputs(show_secrets=True)`` returns them) to the handout documents: a CSV in
the AWS console's credentials format (``User name,Password,Console sign-in URL``, what the
console's "Download .csv" gives for new users) and one Markdown page per student with the
sign-in URL, user name, one-time password (a new one is required at first sign-in), the
private key file, the SSH command and the web URL. :func:`write_handouts` writes them into
a 0700 folder: files 0600, private keys 0400, each created atomically and never through a
symlink. Nothing here prints a secret.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import shlex
import stat
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ..errors import InputError
from ..limits import clip
from ..spec.classroom import Student

CSV_HEADER = ["User name", "Password", "Console sign-in URL"]


@dataclass
class Handouts:
    """The documents for a class: the CSV, a page per student, key files per student."""

    name: str
    csv: str
    pages: dict[str, str] = field(default_factory=dict)
    keys: dict[str, dict[str, str]] = field(default_factory=dict)


@dataclass
class Written:
    """What :func:`write_handouts` wrote (paths only), and students with no deployment."""

    folder: Path
    csv: Path
    pages: dict[str, Path]
    keys: dict[str, list[Path]]
    missing: list[str] = field(default_factory=list)


def _address(command: str | None) -> tuple[str | None, str | None]:
    """(user, host) from the SSH command envkit exports (``ssh [-i KEY] user@host``)."""
    if not command or not command.startswith("ssh "):
        return None, None
    target = shlex.split(command)[-1]
    user, _, host = target.rpartition("@")
    return (user or None), (host or None)


def _key_file(student: Student, key: str) -> str:
    return f"{student.slug}-{key}.pem"


def _sign_in(outputs: dict[str, Any]) -> str | None:
    classroom = outputs.get("classroom") if isinstance(outputs.get("classroom"), dict) else {}
    if classroom.get("sign_in_url"):
        return classroom["sign_in_url"]
    if outputs.get("sign_in_url"):
        return outputs["sign_in_url"]
    arn = next((u.get("arn") for u in (outputs.get("users") or {}).values()
                if isinstance(u, dict) and u.get("arn")), None)
    if isinstance(arn, str) and arn.count(":") >= 5:
        return f"https://{arn.split(':')[4]}.signin.aws.amazon.com/console"
    return None


def render_student(name: str, student: Student, outputs: dict[str, Any]
                   ) -> tuple[list[str] | None, str, dict[str, str]]:
    """One student's CSV row (None without console access), page and key files."""
    user = (outputs.get("users") or {}).get(student.id) or {}
    password = (outputs.get("passwords") or {}).get(student.id)
    url = _sign_in(outputs)
    keys = {k: v for k, v in (outputs.get("private_keys") or {}).items() if isinstance(v, str)}
    key_files = {_key_file(student, k): pem if pem.endswith("\n") else pem + "\n"
                 for k, pem in keys.items()}
    lines = [f"# {name}: {student.display}", ""]
    lines += [f"- **Sign-in URL:** {url or 'ask your instructor'}",
              f"- **User name:** `{user.get('name', student.id)}`"]
    if password:
        lines.append(f"- **One-time password:** `{password}` (you must choose a new password "
                     "when you first sign in)")
    else:
        lines.append("- **Console:** no console sign-in for this lab")
    lines += [f"- **MFA:** set up a virtual MFA device named exactly `{student.id}` "
              "(IAM > Security credentials)", ""]
    instances = outputs.get("instances") or {}
    if instances:
        lines += ["## Your instances", ""]
    for iname, inst in sorted(instances.items()):
        if not isinstance(inst, dict):
            continue
        lines.append(f"### {iname}")
        login, host = _address(inst.get("ssh_command"))
        key_names = list(keys)
        if host and key_names:
            key = _key_file(student, key_names[0])
            lines += [f"- **Private key:** `{key}` (keep it private; `chmod 400 {key}`)",
                      f"- **SSH:** `ssh -i {key} {login}@{host}`"]
        elif inst.get("ssh_command"):
            lines.append(f"- **Connect:** {inst['ssh_command']}")
        if inst.get("web_url"):
            lines.append(f"- **Web:** {inst['web_url']}")
        lines.append("")
    if outputs.get("expires") and outputs.get("lease_end"):
        lines += [f"Your lease ends at {outputs['expires']} (UTC): your instances stop and your "
                  "console password is removed then, and the environment is deleted soon "
                  "after.", ""]
    elif outputs.get("expires"):
        lines += [f"This environment is deleted at {outputs['expires']} (UTC).", ""]
    row = [user.get("name", student.id), password, url or ""] if password else None
    return row, "\n".join(lines), key_files


def render_handouts(name: str, students: list[Student], outputs: dict[str, dict[str, Any]]
                    ) -> Handouts:
    """The class's handouts from each deployed student stack's outputs (keyed by student
    id; students without outputs are left out)."""
    buffer = io.StringIO(newline="")
    writer = csv.writer(buffer, lineterminator="\r\n")
    writer.writerow(CSV_HEADER)
    result = Handouts(name, "")
    for student in students:
        if student.id not in outputs:
            continue
        row, page, keys = render_student(name, student, outputs[student.id])
        if row is not None:
            writer.writerow(row)
        result.pages[student.id] = page
        result.keys[student.id] = keys
    result.csv = buffer.getvalue()
    return result


# --- writing ------------------------------------------------------------------------------------


def check_folder(folder: Path) -> None:
    """Refuse (InputError, exit 2) an existing ``folder`` that handouts may not go into:
    a link, not a folder, someone else's, or open to other users. A missing one is fine."""
    if folder.exists() or folder.is_symlink():
        _private_folder(folder)


def _private_folder(folder: Path) -> Path:
    """``folder`` as a private directory of ours: created 0700 when missing; an existing one
    is used only when it is a real folder (not a link), owned by this user and closed to
    everyone else, otherwise an InputError (exit 2). Its mode is never changed: tightening a
    shared folder (a 1777 /tmp, a team's drop box) would break it for everyone else."""
    if not folder.is_symlink() and not folder.exists():
        if not folder.parent.is_dir():
            folder.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
        with contextlib.suppress(FileExistsError):  # another run may have made it just now
            os.mkdir(folder, 0o700)
    shown = clip(str(folder), 200)
    info = os.lstat(folder)
    if stat.S_ISLNK(info.st_mode):
        raise InputError(f"{shown} is a symbolic link; handouts are not written through "
                         "links (choose another folder with -o)")
    if not stat.S_ISDIR(info.st_mode):
        raise InputError(f"{shown} is not a folder; choose another with -o")
    if info.st_uid != os.getuid():
        raise InputError(f"{shown} belongs to another user; handouts hold passwords and "
                         "keys: choose a folder of yours with -o")
    mode = stat.S_IMODE(info.st_mode)
    if mode & 0o077:
        raise InputError(f"{shown} is open to other users (mode {mode:04o}); handouts hold "
                         "passwords and keys, so they go only into a private folder (mode "
                         "0700) or a new one: choose another with -o (envkit does not change "
                         "the mode of an existing folder)")
    return folder


def _write(path: Path, text: str, mode: int) -> Path:
    """Write ``text`` to ``path`` atomically with ``mode`` from the first byte: a temporary
    file in the same folder (O_EXCL, O_NOFOLLOW), then a rename that replaces whatever the
    name was, a link included, without following it."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".handout-")
    try:
        os.fchmod(fd, 0o600)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
            fh.flush()
            os.fsync(fh.fileno())
        os.chmod(tmp, mode)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def write_handouts(handouts: Handouts, folder: str | os.PathLike[str]) -> Written:
    """Write the CSV, each student's page (``<student>.md``) and their private keys."""
    root = _private_folder(Path(folder))
    csv_path = _write(root / f"{handouts.name}-credentials.csv", handouts.csv, 0o600)
    pages: dict[str, Path] = {}
    keys: dict[str, list[Path]] = {}
    for sid, page in handouts.pages.items():
        student = Student(sid)
        own = _private_folder(root / student.slug)
        pages[sid] = _write(own / f"{student.slug}.md", page, 0o600)
        keys[sid] = [_write(own / name, pem, 0o400)
                     for name, pem in handouts.keys.get(sid, {}).items()]
    return Written(root, csv_path, pages, keys)
