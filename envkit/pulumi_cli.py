"""The Pulumi CLI envkit drives: finding one new enough, checking it, installing it.

envkit needs CLI :data:`MIN_CLI_VERSION` or newer (docs/engine.md, "Which Pulumi CLI runs").
The minimum is handed to the SDK (``PulumiCommand(version=...)``), whose own check refuses
an older CLI (pulumi/automation/_cmd.py ``_parse_and_validate_pulumi_version``). A CLI on
PATH that is too old is passed over for a newer one in ENVKIT_HOME or ~/.pulumi.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import subprocess
from importlib import metadata
from pathlib import Path
from typing import Any

from . import home
from .errors import PrerequisiteError

#: Destroy/refresh run the program (``--run-program``) and inline programs got correct
#: support for it in the Automation API in 3.231.0 (pulumi/pulumi CHANGELOG.md:1410-1415;
#: the flag: destroy 3.160.0, Automation API 3.165.0, up/preview 3.169.0).
MIN_CLI_VERSION = "3.231.0"

#: Where the release archives and checksums are fetched from (a mirror may stand in).
DOWNLOAD_ENV = "ENVKIT_PULUMI_DOWNLOAD_URL"
DOWNLOAD_URL = "https://github.com/pulumi/pulumi/releases/download"
#: The archive can be at most this large (today's are ~150 MB).
MAX_ARCHIVE_BYTES = 600 * 1024 * 1024

MISSING_CLI = (
    "the Pulumi CLI is not installed (looked on PATH, in {home}/pulumi and in ~/.pulumi). "
    "envkit drives it to create, update and destroy environments.\n"
    "Either install it: `envkit install-pulumi` (or see pulumi.com/docs/install),\n"
    "or stay offline: `envkit plan SPEC` shows what would be created, with no CLI."
)
TOO_OLD = (
    "the Pulumi CLI {found} is too old: envkit needs {minimum} or newer (destroy and refresh "
    "run the program, `--run-program`, which older CLIs lack or get wrong).\n"
    "Upgrade it: `envkit install-pulumi` installs {wanted} into {home}/pulumi, which envkit "
    "then prefers; or `curl -fsSL https://get.pulumi.com | sh` (pulumi.com/docs/install)."
)
OFFLINE_INSTALL = (
    "could not download the Pulumi CLI ({reason}): this machine seems to be offline.\n"
    "Install it where the internet is reachable (pulumi.com/docs/install) and put it on "
    "PATH or in {home}/pulumi/bin, or stay offline with `envkit plan SPEC`."
)
MISSING_PLUGIN = (
    "could not install the Pulumi aws provider plugin v{version} ({reason}).\n"
    "Install it where the internet is reachable: `pulumi plugin install resource aws "
    "v{version}`, or stay offline with `envkit plan SPEC`."
)


def _semver(text: str) -> Any:
    from semver import VersionInfo

    try:
        return VersionInfo.parse(text.strip().lstrip("v"))
    except ValueError:
        return None


def minimum_version() -> Any:
    """:data:`MIN_CLI_VERSION` as the SDK's ``VersionInfo``."""
    return _semver(MIN_CLI_VERSION)


def sdk_cli_version() -> str:
    """The CLI version matching the installed SDK (what ``install_pulumi`` installs)."""
    from pulumi._version import version

    return str(version)


def _version_key(folder: Path) -> tuple:
    """Sort key for a ~/.pulumi/versions/<version> folder: by semantic version, not text
    (3.100.0 is newer than 3.99.0); unparsable names sort first."""
    from semver import VersionInfo

    parsed = _semver(folder.name)
    return (1, parsed) if parsed is not None else (0, VersionInfo(0))


def candidates() -> list[Path]:
    """Every Pulumi CLI envkit would consider, in order of preference."""
    found = []
    on_path = shutil.which("pulumi")
    if on_path:
        found.append(Path(on_path))
    found += [home.location() / "pulumi" / "bin" / "pulumi",  # looking creates nothing
              Path.home() / ".pulumi" / "bin" / "pulumi"]
    versions = Path.home() / ".pulumi" / "versions"
    if versions.is_dir():
        folders = sorted((p for p in versions.iterdir() if p.is_dir()), key=_version_key,
                         reverse=True)
        found += [folder / "bin" / "pulumi" for folder in folders]
    out: list[Path] = []
    for path in found:
        if path.is_file() and os.access(path, os.X_OK) and path not in out:
            out.append(path)
    return out


def cli_version(path: Path) -> str | None:
    """What ``pulumi version`` prints (``v3.231.0``), or None when it does not run.
    Run as the SDK runs it (``PulumiCommand.__init__``: PULUMI_SKIP_UPDATE_CHECK)."""
    env = {**os.environ, "PULUMI_SKIP_UPDATE_CHECK": "true"}
    try:
        out = subprocess.run([str(path), "version"], capture_output=True, text=True,
                             timeout=30, env=env, check=True).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return out.strip() or None


def _new_enough(version: str | None) -> bool:
    parsed = _semver(version or "")
    return parsed is not None and parsed.compare(minimum_version()) >= 0


def find_pulumi() -> Path | None:
    """The Pulumi CLI to use: the first of :func:`candidates` that is new enough, else the
    first one found (so the caller can say it is too old), else None."""
    found = candidates()
    for path in found:
        if _new_enough(cli_version(path)):
            return path
    return found[0] if found else None


def _root_of(path: Path) -> str | None:
    """The ``root`` to give ``PulumiCommand`` for ``path`` (None: run ``pulumi`` from PATH,
    as Pulumi's own default does, when ``path`` is what PATH finds)."""
    on_path = shutil.which("pulumi")
    if on_path and Path(on_path) == path:
        return None
    return str(path.parent.parent)


def pulumi_command(path: Path | None = None) -> Any:
    """A ``PulumiCommand`` for the CLI :func:`find_pulumi` finds (or ``path``), checked by
    the SDK against :data:`MIN_CLI_VERSION`; PrerequisiteError (exit 3) otherwise.

    A CLI on PATH is used as Pulumi's own default does (``PulumiCommand()`` runs ``pulumi``
    from PATH); one found elsewhere is a ``root`` whose ``bin/pulumi`` is run, with that
    folder put first on PATH as the SDK does for roots (``_cmd.py`` ``_fixup_path``).
    """
    from pulumi.automation import PulumiCommand
    from pulumi.automation.errors import InvalidVersionError

    path = path or find_pulumi()
    if path is None:
        raise PrerequisiteError(MISSING_CLI.format(home=home.home()))
    try:
        return PulumiCommand(root=_root_of(path), version=minimum_version())
    except (FileNotFoundError, PermissionError, subprocess.CalledProcessError) as exc:
        raise PrerequisiteError(f"the Pulumi CLI at {path} does not run: {exc}") from None
    except InvalidVersionError:
        raise PrerequisiteError(TOO_OLD.format(
            found=f"{cli_version(path) or '?'} at {path}", minimum=MIN_CLI_VERSION,
            wanted=sdk_cli_version(), home=home.home())) from None


# --- installing --------------------------------------------------------------------------------


def _platform() -> str:
    """The release archive's platform part (.goreleaser.yml ``archives.name_template``)."""
    import platform

    system = {"Linux": "linux", "Darwin": "darwin"}.get(platform.system())
    arch = {"x86_64": "x64", "amd64": "x64", "aarch64": "arm64", "arm64": "arm64"}.get(
        platform.machine().lower())
    if system is None or arch is None:
        raise PrerequisiteError(f"no Pulumi CLI release for {platform.system()} "
                                f"{platform.machine()}: see pulumi.com/docs/install")
    return f"{system}-{arch}"


def _fetch(url: str, limit: int) -> bytes:
    import urllib.request

    with urllib.request.urlopen(url, timeout=60) as response:
        data = response.read(limit + 1)
    if len(data) > limit:
        raise PrerequisiteError(f"{url} is larger than {limit} bytes; refusing it")
    return data


def download_pulumi(root: Path, version: str, base_url: str | None = None,
                    platform_name: str | None = None) -> Path:
    """Download the release archive of ``version`` and Pulumi's checksums file, check the
    archive's SHA-256, then unpack its ``pulumi/`` folder into ``root/bin``.

    Names as Pulumi publishes them (.goreleaser.yml: archive ``pulumi-v<version>-<os>-<arch>
    .tar.gz``, wrapped in ``pulumi/``; ``checksum.name_template``
    ``pulumi-<version>-checksums.txt``). Nothing is unpacked unless the checksum matches,
    and only regular files directly under ``pulumi/`` are written (no links, no paths
    outside ``root/bin``). Returns ``root/bin/pulumi``.
    """
    import hashlib
    import io
    import tarfile

    base = (base_url or os.environ.get(DOWNLOAD_ENV) or DOWNLOAD_URL).rstrip("/")
    archive = f"pulumi-v{version}-{platform_name or _platform()}.tar.gz"
    sums = _fetch(f"{base}/v{version}/pulumi-{version}-checksums.txt", 1024 * 1024)
    wanted = None
    for line in sums.decode("utf-8", "replace").splitlines():
        parts = line.split()
        if len(parts) == 2 and parts[1].lstrip("*./") == archive:
            wanted = parts[0].lower()
    if wanted is None:
        raise PrerequisiteError(f"Pulumi's checksums for v{version} do not list {archive}")
    data = _fetch(f"{base}/v{version}/{archive}", MAX_ARCHIVE_BYTES)
    got = hashlib.sha256(data).hexdigest()
    if got != wanted:
        raise PrerequisiteError(f"the downloaded {archive} does not match Pulumi's published "
                                f"checksum (sha256 {got}, expected {wanted}); nothing was "
                                "installed")
    bin_dir = root / "bin"
    staging = root / f".bin.{os.getpid()}.tmp"
    shutil.rmtree(staging, ignore_errors=True)
    staging.mkdir(parents=True, mode=0o700)
    try:
        with tarfile.open(fileobj=io.BytesIO(data), mode="r:gz") as tar:
            for member in tar.getmembers():
                parts = Path(member.name).parts
                if len(parts) != 2 or parts[0] != "pulumi" or not member.isreg():
                    continue
                source = tar.extractfile(member)
                if source is None:
                    continue
                target = staging / parts[1]
                fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW,
                             0o755 if member.mode & 0o111 else 0o644)
                with os.fdopen(fd, "wb") as out:
                    shutil.copyfileobj(source, out)
        if not (staging / "pulumi").is_file():
            raise PrerequisiteError(f"{archive} holds no pulumi/pulumi; nothing was installed")
        shutil.rmtree(bin_dir, ignore_errors=True)
        os.replace(staging, bin_dir)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    return bin_dir / "pulumi"


def install_pulumi() -> Path:
    """Install the Pulumi CLI matching the SDK (pinned, checksum-verified) into
    ENVKIT_HOME/pulumi, and check it runs and is new enough."""
    import urllib.error

    new = not (home.location() / "pulumi").exists()
    root = home.subdir("pulumi")
    try:
        path = download_pulumi(root, sdk_cli_version())
    except (urllib.error.URLError, OSError) as exc:  # no internet, DNS, TLS, a dead mirror
        if new:  # a failed first install leaves no empty folder behind
            with contextlib.suppress(OSError):
                root.rmdir()
        raise PrerequisiteError(OFFLINE_INSTALL.format(
            reason=getattr(exc, "reason", exc), home=home.home())) from None
    pulumi_command(path)
    return path


def aws_plugin_version() -> str:
    """The aws provider plugin version matching the installed pulumi-aws package."""
    return metadata.version("pulumi_aws")
