"""The gate runs a project on the versions it pins: it prepares the project's environment as
`pulumi install` does (sdk/python/toolchain/pip.go), reuses it while the requirement files
are unchanged, refuses under --no-install, and a failed install is one line (exit 2).

The requirements here are wheels built by the test in a local folder (pip runs with
--no-index): `pinme` (two versions, so a program can show which one it ran on) and
`envkit-test-sdks`, whose .pth file lets the new virtualenv import the pulumi and
pulumi_aws this test suite already has (installing those from PyPI is the one slow test
at the end, marked `pypi`)."""

from __future__ import annotations

import base64
import hashlib
import json
import os
import socket
import subprocess
import sys
import sysconfig
import time
import zipfile
from pathlib import Path

import pytest

from envkit.errors import PrerequisiteError, SpecError
from envkit.policy.gate import check
from envkit.policy.project_env import STAMP, resolve_toolchain

from .conftest import ROOT

PROGRAM = '''import pinme
import pulumi_aws as aws

aws.ec2.SecurityGroup(f"sg-{pinme.TEXT}", description="ssh",
                      ingress=[{"protocol": "tcp", "from_port": 22, "to_port": 22,
                                "cidr_blocks": ["0.0.0.0/0"], "description": "ssh"}])
'''


def _wheel(folder: Path, name: str, version: str, files: dict[str, str]) -> Path:
    """A minimal pure-Python wheel (PEP 427): the files, METADATA, WHEEL and RECORD."""
    dist = name.replace("-", "_")
    info = f"{dist}-{version}.dist-info"
    files = dict(files)
    files[f"{info}/METADATA"] = f"Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n"
    files[f"{info}/WHEEL"] = ("Wheel-Version: 1.0\nGenerator: envkit-tests\n"
                              "Root-Is-Purelib: true\nTag: py3-none-any\n")
    record = []
    for path, text in files.items():
        digest = base64.urlsafe_b64encode(hashlib.sha256(text.encode()).digest()).rstrip(b"=")
        record.append(f"{path},sha256={digest.decode()},{len(text.encode())}")
    record.append(f"{info}/RECORD,,")
    files[f"{info}/RECORD"] = "\n".join(record) + "\n"
    target = folder / f"{dist}-{version}-py3-none-any.whl"
    with zipfile.ZipFile(target, "w") as zf:
        for path, text in files.items():
            zf.writestr(path, text)
    return target


@pytest.fixture
def wheels(tmp_path, monkeypatch) -> Path:
    """A local package index (a find-links folder) and pip pointed only at it."""
    folder = tmp_path / "wheels"
    folder.mkdir()
    for version, text in (("1.0", "one"), ("2.0", "two")):
        _wheel(folder, "pinme", version, {"pinme/__init__.py": f"TEXT = {text!r}\n"})
    purelib = sysconfig.get_paths()["purelib"]
    _wheel(folder, "envkit-test-sdks", "1.0", {"envkit_test_sdks.pth": purelib + "\n"})
    for key in [k for k in os.environ if k.startswith("PIP_")]:
        monkeypatch.delenv(key)
    monkeypatch.setenv("PIP_CONFIG_FILE", os.devnull)  # no machine-wide index or constraints
    monkeypatch.setenv("PIP_NO_INDEX", "1")
    monkeypatch.setenv("PIP_FIND_LINKS", str(folder))
    monkeypatch.setenv("PIP_DISABLE_PIP_VERSION_CHECK", "1")
    monkeypatch.setenv("PULUMI_PYTHON_CMD", sys.executable)
    return folder


def _project(folder: Path, requirements: str, options: str = "virtualenv: venv") -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Pulumi.yaml").write_text(
        f"name: pinned\nruntime:\n  name: python\n  options:\n    {options}\n")
    (folder / "Pulumi.dev.yaml").write_text("config:\n  aws:region: eu-west-1\n")
    (folder / "requirements.txt").write_text(requirements)
    (folder / "__main__.py").write_text(PROGRAM)
    return folder


def _names(report) -> set[str]:
    return {f.resource_name for f in report.findings if f.policy == "ec2-no-public-admin-ingress"}


def test_named_virtualenv_is_made_from_requirements_and_reused_until_they_change(
        tmp_path, wheels):
    project = _project(tmp_path / "p", "pinme==1.0\nenvkit-test-sdks==1.0\n")
    said: list[str] = []
    report = check(project, timeout=120, say=said.append)
    # The program ran on the version requirements.txt pins, in the virtualenv named.
    assert _names(report) == {"sg-one"}
    assert (project / "venv" / "bin" / "python").is_file()
    assert any("names the virtualenv venv, which does not exist: creating it" in s
               for s in said), said
    assert any("installing" in s and "requirements.txt" in s and "pip's cache" in s
               for s in said), said

    # Unchanged requirement files: the environment is reused, nothing is installed.
    stamp = project / "venv" / STAMP
    made = stamp.stat().st_mtime_ns
    said.clear()
    assert _names(check(project, timeout=120, say=said.append)) == {"sg-one"}
    assert len(said) == 1 and said[0].startswith("reusing ") and stamp.stat().st_mtime_ns == made

    # A new pin: the same install again, and the program runs on the new version.
    (project / "requirements.txt").write_text("pinme==2.0\nenvkit-test-sdks==1.0\n")
    said.clear()
    assert _names(check(project, timeout=120, say=said.append)) == {"sg-two"}
    assert any("requirement files changed" in s for s in said), said


def test_an_environment_someone_else_made_is_used_as_it_is(tmp_path, wheels):
    # `pulumi install` (or a pipeline) made it: no stamp, so the gate installs nothing.
    project = _project(tmp_path / "p", "pinme==2.0\nenvkit-test-sdks==1.0\n")
    subprocess.run([sys.executable, "-m", "venv", str(project / "venv")], check=True)
    subprocess.run([str(project / "venv" / "bin" / "python"), "-m", "pip", "install", "-q",
                    "pinme==1.0", "envkit-test-sdks==1.0"], check=True)
    said: list[str] = []
    assert _names(check(project, timeout=120, say=said.append)) == {"sg-one"}
    assert said == []


def envkit(*args: str, **env: str) -> subprocess.CompletedProcess:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    clean.update(PATH=os.path.dirname(sys.executable) + ":/usr/bin:/bin", COLUMNS="200", **env)
    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=ROOT, env=clean, timeout=240)


def test_cli_says_on_stderr_what_it_installs_and_no_install_refuses(tmp_path, wheels):
    project = _project(tmp_path / "p", "pinme==1.0\nenvkit-test-sdks==1.0\n")
    refused = envkit("policy", "check", str(project), "--no-install")
    assert refused.returncode == 2
    assert "names the virtualenv venv, which does not exist, and --no-install forbids " \
           "creating it" in refused.stderr
    assert "Traceback" not in refused.stderr and not (project / "venv").exists()

    done = envkit("policy", "check", str(project), "--format", "json")
    assert done.returncode == 4, done.stderr  # SSH open to the world: mandatory
    assert "envkit: Pulumi.yaml names the virtualenv venv, which does not exist: creating " \
           "it with" in done.stderr
    doc = json.loads(done.stdout)  # stdout holds the document alone
    assert {f["resource_name"] for f in doc["findings"]} >= {"sg-one"}


def test_a_requirement_that_cannot_be_installed_is_one_line_naming_it(tmp_path, wheels):
    project = _project(tmp_path / "p", "envkit-test-sdks==1.0\npinme==9.0\n")
    with pytest.raises(SpecError) as info:
        check(project, timeout=120, say=lambda _: None)
    issue = info.value.issues[0]
    assert info.value.exit_code == 2
    assert issue.file == str(project / "requirements.txt") and issue.line == 2
    assert issue.message.startswith("installing requirements.txt failed: no release satisfies "
                                    "'pinme==9.0' (the index has: 1.0, 2.0)")
    assert "\n" not in issue.message
    # Nothing half-made is left to be reused next time.
    assert not (project / "venv").exists()


def test_an_unreachable_index_is_one_line_naming_it(tmp_path, wheels, monkeypatch):
    with socket.socket() as probe:  # a port nothing listens on
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.delenv("PIP_NO_INDEX")
    monkeypatch.delenv("PIP_FIND_LINKS")
    monkeypatch.setenv("PIP_INDEX_URL", f"http://127.0.0.1:{port}/simple")
    monkeypatch.setenv("PIP_RETRIES", "1")
    monkeypatch.setenv("PIP_TIMEOUT", "3")
    project = _project(tmp_path / "p", "pinme==1.0\n")
    with pytest.raises(SpecError) as info:
        check(project, timeout=120, say=lambda _: None)
    assert info.value.issues[0].message == (
        f"installing requirements.txt failed: the package index (127.0.0.1:{port}) is "
        "unreachable, so 'pinme==1.0' could not be installed")
    assert info.value.issues[0].line == 1


def test_uv_and_poetry_are_chosen_as_pulumi_chooses_them(tmp_path):
    # toolchain.go ResolveToolchain: the option, else a uv.lock or poetry.lock, else pip.
    (tmp_path / "app").mkdir()
    assert resolve_toolchain({}, tmp_path, tmp_path / "app") == "pip"
    (tmp_path / "poetry.lock").write_text("")
    assert resolve_toolchain({}, tmp_path, tmp_path / "app") == "poetry"
    (tmp_path / "uv.lock").write_text("")
    assert resolve_toolchain({}, tmp_path, tmp_path / "app") == "uv"
    assert resolve_toolchain({"toolchain": "pip"}, tmp_path, tmp_path / "app") == "pip"


def test_a_toolchain_whose_tool_is_missing_is_a_missing_prerequisite(tmp_path, monkeypatch):
    monkeypatch.setenv("PATH", str(tmp_path / "empty-bin"))
    project = _project(tmp_path / "p", "pinme==1.0\n", options="toolchain: uv")
    with pytest.raises(PrerequisiteError) as info:
        check(project, timeout=60, say=lambda _: None)
    assert info.value.exit_code == 3 and "toolchain uv needs the `uv` executable" in \
        str(info.value)


def test_an_unknown_toolchain_is_bad_input(tmp_path):
    project = _project(tmp_path / "p", "", options="toolchain: conda")
    with pytest.raises(SpecError) as info:
        check(project, timeout=60)
    assert info.value.exit_code == 2
    assert "unsupported toolchain 'conda'" in info.value.issues[0].message


def test_a_virtualenv_outside_the_project_is_not_created(tmp_path, wheels):
    project = _project(tmp_path / "p", "pinme==1.0\n",
                       options=f"virtualenv: {tmp_path / 'elsewhere'}")
    with pytest.raises(SpecError) as info:
        check(project, timeout=60, say=lambda _: None)
    assert "outside the project folder" in info.value.issues[0].message
    assert not (tmp_path / "elsewhere").exists()


@pytest.mark.pypi
def test_old_pins_from_pypi_run_in_their_own_virtualenv(tmp_path, monkeypatch):
    """pulumi 3.50 and pulumi-aws 5 (Eip(vpc=) was removed in 6) from the real PyPI: the
    harness runs on an SDK four years older than envkit's."""
    if os.environ.get("ENVKIT_TEST_PYPI") != "1":
        # pulumi-aws 5 is a wheel of ~100 MB to unpack: 2.5 min here even from pip's cache.
        pytest.skip("set ENVKIT_TEST_PYPI=1 to build a virtualenv from the real PyPI "
                    "(pulumi 3.50 + pulumi-aws 5; minutes, even with pip's cache)")
    monkeypatch.setenv("PULUMI_PYTHON_CMD", sys.executable)
    project = tmp_path / "old"
    project.mkdir()
    (project / "Pulumi.yaml").write_text(
        "name: old\nruntime:\n  name: python\n  options:\n    virtualenv: venv\n")
    (project / "requirements.txt").write_text("pulumi==3.50.2\npulumi-aws>=5,<6\n")
    (project / "__main__.py").write_text(
        "import json\nimport pulumi_aws as aws\n"
        "role = aws.iam.Role('r', assume_role_policy=json.dumps({'Version': '2012-10-17', "
        "'Statement': [{'Effect': 'Allow', 'Action': 'sts:AssumeRole', "
        "'Principal': {'Service': 'ec2.amazonaws.com'}}]}))\n"
        "aws.iam.Policy('p', policy=role.arn.apply(lambda arn: json.dumps({'Version': "
        "'2012-10-17', 'Statement': [{'Effect': 'Allow', 'Action': ['logs:*'], "
        "'Resource': '*'}, {'Effect': 'Allow', 'Action': 'iam:PassRole', "
        "'Resource': arn}]})))\n"
        "aws.ec2.Eip('e', vpc=True)\n")
    started = time.monotonic()
    try:
        report = check(project, timeout=120, say=print)
    except SpecError as exc:
        if "unreachable" in str(exc):
            pytest.skip(f"PyPI is not reachable from here: {exc}")
        raise
    print(f"made and checked in {time.monotonic() - started:.1f} s")
    versions = subprocess.run(
        [str(project / "venv" / "bin" / "python"), "-c",
         "import importlib.metadata as m; print(m.version('pulumi'), m.version('pulumi-aws'))"],
        capture_output=True, text=True, check=True).stdout.split()
    assert versions[0] == "3.50.2" and versions[1].startswith("5.")
    rules = {(f.policy, f.resource_name) for f in report.findings if f.kind == "violation"}
    # The document built with apply() from the role's ARN was evaluated.
    assert ("iam-no-service-wildcard", "p") in rules
    assert ("ec2-no-unattached-eip", "e") in rules


def test_python_names_the_interpreter_and_nothing_is_installed(tmp_path, wheels):
    # A pipeline that installed the requirements itself points the gate at its interpreter.
    project = _project(tmp_path / "p", "pinme==1.0\n")
    (project / "__main__.py").write_text(PROGRAM.replace("import pinme\n", "").replace(
        "{pinme.TEXT}", "envkit"))
    said: list[str] = []
    report = check(project, timeout=120, say=said.append, python=sys.executable)
    assert _names(report) == {"sg-envkit"} and said == []
    assert not (project / "venv").exists()
    bad = envkit("policy", "check", str(project), "--python", str(tmp_path / "no-such-python"))
    assert bad.returncode == 2 and "--python: " in bad.stderr and \
        "is not an executable Python interpreter" in bad.stderr


def test_a_project_without_a_virtualenv_gets_a_private_one_when_envkits_python_lacks_a_pin(
        tmp_path, wheels):
    """No virtualenv option, no venv/: Pulumi would run the ambient Python (and `pulumi
    install` install into it). The gate leaves its own interpreter alone and prepares a
    private environment in its cache, reused while requirements.txt is unchanged."""
    from envkit import home

    project = _project(tmp_path / "p", "pinme==2.0\nenvkit-test-sdks==1.0\n", options="{}")
    said: list[str] = []
    assert _names(check(project, timeout=120, say=said.append)) == {"sg-two"}
    assert not (project / "venv").exists() and not (project / ".venv").exists()
    [made] = list((home.location() / "cache" / "gate-envs").iterdir())
    assert (made / "bin" / "python").is_file()
    assert any("names no virtualenv and envkit's Python lacks pinme==2.0" in s
               and str(made) in s for s in said), said
    said.clear()
    assert _names(check(project, timeout=120, say=said.append)) == {"sg-two"}
    assert said == [f"reusing {made} (made from this project's requirements.txt)"]
    # envkit's own interpreter was not touched.
    import importlib.util
    assert importlib.util.find_spec("pinme") is None

    # --no-install: envkit's Python as before, and the missing module is named.
    (project / "requirements.txt").write_text("pinme==1.0\nenvkit-test-sdks==1.0\n")
    with pytest.raises(SpecError, match="needs the module 'pinme'"):
        check(project, timeout=120, install=False, say=said.append)


def test_requirements_envkits_python_satisfies_need_no_environment(tmp_path):
    from envkit.policy.project_env import private_env, unmet_requirements

    req = tmp_path / "requirements.txt"
    req.write_text("pulumi>=3.0.0,<4.0.0  # the SDK\npulumi-aws>=7\n"
                   "pywin32>=1; sys_platform == 'win32'\n\n# a comment\n")
    assert unmet_requirements(req) == []
    assert private_env(tmp_path, tmp_path, say=print) is None  # runs on envkit's Python
    req.write_text("pulumi-aws>=5,<6\nno-such-dist-here==1\npulumi\n")
    assert unmet_requirements(req) == ["pulumi-aws>=5,<6", "no-such-dist-here==1"]
    for unreadable in ("-r other.txt\n", "--index-url http://127.0.0.1/simple\n",
                       "pulumi[grpc]>=3\n",
                       "pkg @ https://example.invalid/pkg.whl\n", "not a requirement!!\n"):
        req.write_text(unreadable)
        assert unmet_requirements(req) is None, unreadable


def test_a_pulumi_2_pin_runs_on_envkits_python_and_says_so(tmp_path, wheels):
    """pulumi 2.x SDKs pin protobuf and grpcio releases that no longer import on current
    Pythons: a private environment would only fail, so the program runs on envkit's own,
    with a note."""
    project = _project(tmp_path / "p", "pulumi>=2.0.0,<3.0.0\npulumi-aws>=2,<3\n",
                       options="{}")
    (project / "__main__.py").write_text(PROGRAM.replace("import pinme\n", "").replace(
        "{pinme.TEXT}", "envkit"))
    said: list[str] = []
    report = check(project, timeout=120, say=said.append)
    assert _names(report) == {"sg-envkit"}
    assert said == []  # nothing prepared
    assert any("pins pulumi>=2.0.0,<3.0.0, an SDK that no longer runs" in n["message"]
               for n in report.notes)


def test_an_sdk_that_cannot_be_imported_is_named_with_its_version(tmp_path):
    venv = tmp_path / "broken"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True,
                   timeout=120)
    site = subprocess.run([str(venv / "bin" / "python"), "-c",
                           "import sysconfig; print(sysconfig.get_paths()['purelib'])"],
                          capture_output=True, text=True, check=True).stdout.strip()
    (Path(site) / "pulumi").mkdir()
    (Path(site) / "pulumi" / "__init__.py").write_text(
        "raise TypeError('Descriptors cannot be created directly.\\nIf this call came from "
        "a _pb2.py file, your generated code is out of date')\n")
    (Path(site) / "pulumi-2.25.2.dist-info").mkdir()
    (Path(site) / "pulumi-2.25.2.dist-info" / "METADATA").write_text(
        "Metadata-Version: 2.1\nName: pulumi\nVersion: 2.25.2\n")
    project = _project(tmp_path / "p", "pulumi>=2,<3\n")
    with pytest.raises(SpecError) as info:
        check(project, timeout=120, python=str(venv / "bin" / "python"))
    message = str(info.value)
    assert "(pulumi 2.25.2) cannot be imported on Python 3." in message
    assert "TypeError: Descriptors cannot be created directly." in message
    assert "\n" not in message and "process exited" not in message


@pytest.mark.parametrize("line, old", [
    ("pulumi>=2.0.0,<3.0.0", True), ("pulumi<3", True), ("pulumi<=2.25.2", True),
    ("pulumi==2.*", True), ("pulumi~=2.0", True), ("pulumi==3.272.1", False),
    ("pulumi>=3.0.0,<4.0.0", False), ("pulumi", False), ("pulumi>=2", False),
    ("pulumi<3.5", False),
])
def test_a_pulumi_2_pin_is_told_from_a_3x_one(tmp_path, line, old):
    from envkit.policy.project_env import _pins_pulumi_before_3

    req = tmp_path / "requirements.txt"
    req.write_text(f"pulumi-aws>=5\n{line}\n")
    assert (_pins_pulumi_before_3(req) == line) is old
