"""Secrets at rest in ENVKIT_HOME: created once and atomically, never empty, never through a
planted symlink, readable by their owner only."""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest

from envkit import home
from envkit.errors import EnvkitError, PrerequisiteError

RACE = """
import json, os, sys, time
from envkit import home
start, homes = float(sys.argv[1]), sys.argv[2:]
while time.time() < start:
    pass
seen = {}
for folder in homes:  # every process walks the same fresh homes: a race in each
    os.environ["ENVKIT_HOME"] = folder
    try:
        seen[folder] = home.passphrase()
    except Exception as exc:
        seen[folder] = f"error: {exc!r}"
print(json.dumps(seen))
"""


def mode(path: Path) -> int:
    return stat.S_IMODE(os.lstat(path).st_mode)


def test_eight_processes_racing_agree_on_one_passphrase(tmp_path):
    homes = [str(tmp_path / f"home{i}") for i in range(150)]
    start = time.time() + 2  # all eight are running and spinning by then
    racers = [subprocess.Popen([sys.executable, "-c", RACE, str(start), *homes],
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
              for _ in range(8)]
    results = [p.communicate(timeout=120) for p in racers]
    assert all(p.returncode == 0 for p in racers), results
    seen = [json.loads(out) for out, _ in results]
    for folder in homes:
        values = {s[folder] for s in seen}
        assert len(values) == 1, (folder, values)
        value = values.pop()
        assert len(value) >= 40 and not value.startswith("error"), value
        secret = Path(folder) / "passphrase"
        assert secret.read_text() == value and mode(secret) == 0o600
        assert [p.name for p in secret.parent.iterdir()] == ["passphrase"]  # no leftovers


def test_an_empty_passphrase_file_is_an_error_not_a_secret():
    secret = home.home() / "passphrase"
    secret.write_text("\n")
    with pytest.raises(PrerequisiteError, match=r"passphrase file .* is empty"):
        home.passphrase()
    assert secret.read_text() == "\n"  # left for the user to restore, not overwritten


def test_a_symlink_planted_as_the_passphrase_is_refused(tmp_path):
    target = tmp_path / "elsewhere"
    target.write_text("attacker-chosen")
    (home.home() / "passphrase").symlink_to(target)
    with pytest.raises(EnvkitError, match="is a symlink; envkit refuses"):
        home.passphrase()
    dangling = tmp_path / "new-file"
    (home.home() / "passphrase").unlink()
    (home.home() / "passphrase").symlink_to(dangling)
    with pytest.raises(EnvkitError, match="symlink"):
        home.passphrase()
    assert not dangling.exists()  # nothing was written through the link


def test_key_files_are_0400_in_0700_folders():
    key = home.keys_dir("lab") / "web.pem"
    home.write_secret_file(key, "PRIVATE\n")
    assert key.read_text() == "PRIVATE\n" and mode(key) == 0o400
    assert mode(key.parent) == 0o700 and mode(key.parent.parent) == 0o700
    home.write_secret_file(key, "ROTATED\n")  # replaced atomically, still 0400
    assert key.read_text() == "ROTATED\n" and mode(key) == 0o400
    assert sorted(p.name for p in key.parent.iterdir()) == ["web.pem"]


def test_a_loose_keys_folder_is_tightened():
    keys = home.home() / "keys"
    keys.mkdir(mode=0o755)
    keys.chmod(0o755)
    home.write_secret_file(keys / "lab" / "web.pem", "PRIVATE\n")
    assert mode(keys) == 0o700


def test_a_symlink_planted_as_a_key_file_is_refused(tmp_path):
    target = tmp_path / "authorized_keys"
    target.write_text("precious\n")
    folder = home.keys_dir("lab")
    home.private_dir(folder)
    (folder / "web.pem").symlink_to(target)
    with pytest.raises(EnvkitError, match="symlink"):
        home.write_secret_file(folder / "web.pem", "PRIVATE\n")
    assert target.read_text() == "precious\n"


def test_a_symlink_planted_as_the_keys_folder_is_refused(tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    (home.home() / "keys").mkdir(mode=0o700)
    (home.home() / "keys" / "lab").symlink_to(outside)
    with pytest.raises(EnvkitError, match=r"not a folder .*symlink"):
        home.write_secret_file(home.keys_dir("lab") / "web.pem", "PRIVATE\n")
    assert list(outside.iterdir()) == []


def test_the_registry_is_private_and_replaced_whole():
    home.update_registry("lab", target="local", resources=3)
    registry = home.home() / "environments.json"
    assert mode(registry) == 0o600
    assert json.loads(registry.read_text())["lab"]["resources"] == 3
    home.update_registry("lab", removed=True)
    assert home.read_registry() == {} and mode(registry) == 0o600


def test_envkit_home_that_is_a_file_is_bad_input(tmp_path, monkeypatch):
    from envkit.errors import InputError

    not_a_folder = tmp_path / "file"
    not_a_folder.write_text("")
    monkeypatch.setenv("ENVKIT_HOME", str(not_a_folder))
    with pytest.raises(InputError, match="is not a folder"):
        home.home()


@pytest.mark.parametrize("damage", ['{"lab": {"target": "aws"', '["lab"]', '{"lab": 3}'])
def test_a_damaged_registry_is_bad_input_and_is_not_written_over(damage):
    """Read as empty, the next operation would write a fresh record over it: every
    environment envkit knew of would be forgotten."""
    from envkit.errors import SpecError

    registry = home.home() / "environments.json"
    registry.write_text(damage)
    registry.chmod(0o600)
    with pytest.raises(SpecError, match=r"environments\.json") as info:
        home.read_registry()
    assert "record of the environments" in str(info.value)
    with pytest.raises(SpecError):
        home.update_registry("other", target="local")
    assert registry.read_text() == damage
