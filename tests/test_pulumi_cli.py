"""Which Pulumi CLI envkit runs, the minimum version, and installing one (pinned, checked).

The version check is the SDK's own (``PulumiCommand(version=...)``); only the CLI's answer
to ``pulumi version`` is stood in: ``v<version>\\n``, as pkg/cmd/pulumi/version/version.go:30
prints it (``fmt.Fprintf(cmd.OutOrStdout(), "%v\\n", version.Version)``, the version with
its ``v``). The install is exercised against a release laid out as Pulumi publishes it,
served on 127.0.0.1.
"""

from __future__ import annotations

import hashlib
import http.server
import io
import os
import tarfile
import threading
from pathlib import Path

import pytest

from envkit import home, pulumi_cli
from envkit.errors import PrerequisiteError


@pytest.fixture
def no_pulumi(monkeypatch, tmp_path):
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    monkeypatch.setenv("HOME", str(tmp_path / "home"))
    assert pulumi_cli.find_pulumi() is None


def _placeholder(path: Path) -> Path:
    """A file where a CLI would be (never run: `pulumi version` is stood in)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("#!/bin/sh\nexit 99\n")
    path.chmod(0o755)
    return path


def _versions(monkeypatch, by_path: dict[Path, str]) -> None:
    """`pulumi version` answers per executable, for envkit's probe and the SDK's check."""
    import subprocess

    real = subprocess.check_output

    def check_output(args, *a, **kw):
        for path, version in by_path.items():
            if args[:2] in ([str(path), "version"], [path.name, "version"]):
                return f"{version}\n".encode()
        return real(args, *a, **kw)

    monkeypatch.setattr("pulumi.automation._cmd.subprocess.check_output", check_output)
    monkeypatch.setattr(pulumi_cli, "cli_version",
                        lambda p: next((v for q, v in by_path.items() if q == p), None))


def test_a_too_old_cli_is_refused_by_the_sdks_check_with_the_upgrade_command(
        no_pulumi, monkeypatch, tmp_path):
    old = _placeholder(tmp_path / "bin" / "pulumi")
    monkeypatch.setenv("PATH", f"{old.parent}:/usr/bin:/bin")
    _versions(monkeypatch, {old: "v3.200.0"})
    assert pulumi_cli.find_pulumi() == old  # the only one: reported, not hidden
    with pytest.raises(PrerequisiteError) as info:
        pulumi_cli.pulumi_command()
    text = str(info.value)
    assert info.value.exit_code == 3
    assert "v3.200.0" in text and "3.231.0" in text and "envkit install-pulumi" in text


def test_the_minimum_reaches_the_sdk_as_pulumi_command_version(no_pulumi, monkeypatch,
                                                               tmp_path):
    new = _placeholder(tmp_path / "bin" / "pulumi")
    monkeypatch.setenv("PATH", f"{new.parent}:/usr/bin:/bin")
    _versions(monkeypatch, {new: "v3.231.0"})
    command = pulumi_cli.pulumi_command()
    assert str(command.version) == "3.231.0"
    assert command.command == "pulumi"  # from PATH, as Pulumi's own default


def test_an_old_cli_on_path_is_passed_over_for_a_newer_one_in_envkit_home(
        no_pulumi, monkeypatch, tmp_path):
    old = _placeholder(tmp_path / "bin" / "pulumi")
    monkeypatch.setenv("PATH", f"{old.parent}:/usr/bin:/bin")
    own = _placeholder(home.home() / "pulumi" / "bin" / "pulumi")
    _versions(monkeypatch, {old: "v3.150.0", own: "v3.272.0"})
    assert pulumi_cli.find_pulumi() == own
    command = pulumi_cli.pulumi_command()
    assert command.command == str(own)  # a root: the SDK puts its bin/ first on PATH


def test_pulumi_versions_folders_sort_by_version_not_text(no_pulumi, monkeypatch):
    versions = Path(os.environ["HOME"]) / ".pulumi" / "versions"
    made = {v: _placeholder(versions / v / "bin" / "pulumi")
            for v in ("3.99.0", "3.300.0", "3.9.1", "not-a-version")}
    _versions(monkeypatch, {p: "v" + v for v, p in made.items() if v[0] == "3"})
    assert pulumi_cli.candidates()[0] == made["3.300.0"]


# --- installing ------------------------------------------------------------------------------


def _release(version: str, platform: str, body: bytes = b"not a program") -> dict[str, bytes]:
    """A release laid out as .goreleaser.yml publishes it: pulumi-v<V>-<os>-<arch>.tar.gz
    wrapped in pulumi/, and pulumi-<V>-checksums.txt (sha256sum format)."""
    buffer = io.BytesIO()
    with tarfile.open(fileobj=buffer, mode="w:gz") as tar:
        for name, data in (("pulumi/pulumi", body), ("pulumi/pulumi-language-python", body),
                           ("pulumi/../../escape", b"x")):
            info = tarfile.TarInfo(name)
            info.size = len(data)
            info.mode = 0o644  # data here: nothing from this archive is ever run
            tar.addfile(info, io.BytesIO(data))
        link = tarfile.TarInfo("pulumi/link")
        link.type = tarfile.SYMTYPE
        link.linkname = "/etc/passwd"
        tar.addfile(link)
    archive = buffer.getvalue()
    name = f"pulumi-v{version}-{platform}.tar.gz"
    sums = f"{hashlib.sha256(archive).hexdigest()}  {name}\n".encode()
    return {f"/v{version}/{name}": archive, f"/v{version}/pulumi-{version}-checksums.txt": sums}


@pytest.fixture
def mirror():
    files: dict[str, bytes] = {}

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self):
            data = files.get(self.path)
            self.send_response(200 if data is not None else 404)
            self.end_headers()
            self.wfile.write(data or b"")

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield files, f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_install_checks_the_archive_against_pulumis_checksums(mirror, tmp_path):
    files, url = mirror
    files.update(_release("3.272.0", "linux-x64"))
    root = tmp_path / "pulumi"
    path = pulumi_cli.download_pulumi(root, "3.272.0", url, "linux-x64")
    assert path == root / "bin" / "pulumi" and path.read_bytes() == b"not a program"
    assert sorted(p.name for p in (root / "bin").iterdir()) == ["pulumi",
                                                                "pulumi-language-python"]
    assert not (tmp_path / "escape").exists()


def test_a_tampered_archive_installs_nothing(mirror, tmp_path):
    files, url = mirror
    files.update(_release("3.272.0", "linux-x64"))
    good = _release("3.272.0", "linux-x64", body=b"something else")
    files["/v3.272.0/pulumi-v3.272.0-linux-x64.tar.gz"] = good[
        "/v3.272.0/pulumi-v3.272.0-linux-x64.tar.gz"]
    root = tmp_path / "pulumi"
    with pytest.raises(PrerequisiteError, match="does not match Pulumi's published checksum"):
        pulumi_cli.download_pulumi(root, "3.272.0", url, "linux-x64")
    assert not (root / "bin").exists()


def test_offline_install_is_one_clear_message(monkeypatch):
    import urllib.error

    def offline(url, limit):
        raise urllib.error.URLError("[Errno -3] Temporary failure in name resolution")

    monkeypatch.setattr(pulumi_cli, "_fetch", offline)
    with pytest.raises(PrerequisiteError, match="seems to be offline") as info:
        pulumi_cli.install_pulumi()
    assert "envkit plan" in str(info.value) and info.value.exit_code == 3
