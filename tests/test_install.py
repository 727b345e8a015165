"""envkit installs anywhere: the sdist and the wheel are built (offline, the wheel from the
sdist), the wheel is installed into a fresh virtualenv outside the checkout, and the CLI runs
there from a folder that is not the checkout.

The fresh virtualenv sees only envkit's declared run-time dependencies: the distributions
its wheel's ``Requires-Dist`` names, followed transitively (extras and markers included),
are linked from this environment into one folder that a ``.pth`` file puts on the new
virtualenv's path. pip installs the wheel with ``--no-index``, so it must find every
dependency there; a module imported at run time from a dev-only package fails the commands.
"""

from __future__ import annotations

import email
import json
import os
import subprocess
import sys
import tarfile
import zipfile
from importlib import metadata
from pathlib import Path

import pytest
import yaml
from packaging.requirements import Requirement
from packaging.utils import canonicalize_name

from .conftest import BASICS, ROOT
from .test_policy_pack import RECORD


def _run(args: list, **kwargs) -> subprocess.CompletedProcess:
    done = subprocess.run([str(a) for a in args], capture_output=True, text=True,
                          timeout=300, **kwargs)
    return done


def _closure(requirements: list[str]) -> list[metadata.Distribution]:
    """The installed distributions these requirements need, transitively."""
    found: dict[str, metadata.Distribution] = {}
    done: set[tuple[str, frozenset[str]]] = set()
    roots = [Requirement(r) for r in requirements]  # without extras: no `dev` packages
    todo = [r for r in roots if r.marker is None or r.marker.evaluate({"extra": ""})]
    while todo:
        req = todo.pop()
        key = (canonicalize_name(req.name), frozenset(req.extras))
        if key in done:
            continue
        done.add(key)
        dist = metadata.distribution(req.name)
        found[key[0]] = dist
        for text in dist.requires or []:
            sub = Requirement(text)
            extras = req.extras or {""}
            if sub.marker is None or any(sub.marker.evaluate({"extra": e}) for e in extras):
                todo.append(sub)
    return list(found.values())


def _link_dependencies(requirements: list[str], into: Path) -> int:
    """Link every top-level file and folder of the dependency closure into one folder."""
    into.mkdir()
    dists = _closure(requirements)
    for dist in dists:
        assert dist.files, f"{dist.metadata['Name']} lists no files"
        for top in {f.parts[0] for f in dist.files if f.parts[0] != ".."}:
            target = Path(str(dist.locate_file(top)))
            if target.exists() and not (into / top).exists():
                (into / top).symlink_to(target)
    return len(dists)


@pytest.fixture(scope="module")
def built(tmp_path_factory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    done = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, ROOT])
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    return {"wheel": next(out.glob("envkit-*.whl")), "sdist": next(out.glob("envkit-*.tar.gz"))}


@pytest.fixture(scope="module")
def installed(built, tmp_path_factory) -> dict[str, Path]:
    root = tmp_path_factory.mktemp("installed")
    with zipfile.ZipFile(built["wheel"]) as wheel:
        meta_name = next(n for n in wheel.namelist() if n.endswith(".dist-info/METADATA"))
        requires = email.message_from_bytes(wheel.read(meta_name)).get_all("Requires-Dist")
    linked = _link_dependencies(requires, root / "deps")
    venv = root / "venv"
    assert _run([sys.executable, "-m", "venv", venv]).returncode == 0
    python = venv / "bin" / "python"
    purelib = _run([python, "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
                   ).stdout.strip()
    Path(purelib, "envkit-test-deps.pth").write_text(f"{root / 'deps'}\n")
    # Without PYTHONPATH: a checkout on it (with the egg-info `build` leaves there) would make
    # pip answer "already satisfied" and install nothing.
    quiet = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = _run([python, "-m", "pip", "install", "--no-index", "--disable-pip-version-check",
                 built["wheel"]], env=quiet)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    work = root / "work"
    work.mkdir()
    env = {k: v for k, v in os.environ.items()
           if k not in ("VIRTUAL_ENV", "PYTHONPATH", "ENVKIT_HOME")}
    env.update(PATH=f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}",
               HOME=str(root / "home"), ENVKIT_HOME=str(root / "envkit-home"))
    return {"venv": venv, "python": python, "work": work, "env": env, "linked": linked}


def envkit(installed, *args: str) -> subprocess.CompletedProcess:
    return _run([installed["venv"] / "bin" / "envkit", *args], cwd=installed["work"],
                env=installed["env"])


def test_sdist_holds_the_tests_fixtures_and_the_shipped_folders(built):
    with tarfile.open(built["sdist"]) as sdist:
        names = {n.split("/", 1)[1] for n in sdist.getnames() if "/" in n}
        members = {m.name.split("/", 1)[1]: m for m in sdist.getmembers() if "/" in m.name}
    for path in ("tests/conftest.py", "tests/fakes.py", "tests/fixtures/unsafe-project/"
                 "__main__.py", "tests/fixtures/sarif-2.1.0-rtm.5.json", "labs/aws-basics.yaml",
                 "policies/PulumiPolicy.yaml", "notebooks/02-ec2-web-server.ipynb",
                 "Pulumi.yaml", "__main__.py", "envkit/labs/aws-basics.yaml",
                 "envkit/policies/__main__.py", "envkit/notebooks/01-iam-basics.ipynb"):
        assert path in names, path
    # the package's symlinks become real files in the sdist
    assert members["envkit/labs/aws-basics.yaml"].isfile()


def test_wheel_holds_labs_templates_notebooks_and_the_policy_pack(built):
    with zipfile.ZipFile(built["wheel"]) as wheel:
        names = set(wheel.namelist())
        assert wheel.read("envkit/labs/aws-basics.yaml") == BASICS.read_bytes()
    for path in ("envkit/templates/web-server.sh", "envkit/policies/PulumiPolicy.yaml",
                 "envkit/policies/__main__.py", "envkit/policies/requirements.txt",
                 "envkit/notebooks/03-policy-gate.ipynb", "envkit/labs/iam-basics.yaml",
                 # the Node script that expands eks components (envkit/policy/node_expand.py)
                 "envkit/policy/_node_expand.js"):
        assert path in names, path


def test_installed_envkit_is_the_wheel_not_the_checkout(installed):
    done = _run([installed["python"], "-c", "import envkit; print(envkit.__file__)"],
                cwd=installed["work"], env=installed["env"])
    assert done.returncode == 0, done.stderr
    assert Path(done.stdout.strip()).is_relative_to(installed["venv"])
    assert installed["linked"] > 50  # the run-time closure, not everything this venv has
    dev_only = _run([installed["python"], "-c", "import nbclient"], env=installed["env"])
    assert dev_only.returncode != 0


def test_init_plan_and_policy_check_run_from_the_wheel(installed, tmp_path):
    init = envkit(installed, "init", "--notebooks")
    assert init.returncode == 0, init.stderr
    work = installed["work"]
    written = (work / "envkit.yaml").read_text()
    assert "reference for the spec format" not in written  # no note to envkit's maintainers
    assert written.endswith(BASICS.read_text().split("\nname:", 1)[1])  # the lab as shipped
    assert "next: envkit plan envkit.yaml" in init.stdout
    assert sorted(p.name for p in (work / "notebooks").glob("*.ipynb")) == [
        "01-iam-basics.ipynb", "02-ec2-web-server.ipynb", "03-policy-gate.ipynb",
        "04-classroom.ipynb"]
    plan = envkit(installed, "plan")
    assert plan.returncode == 0, plan.stderr
    assert "31 resources" in plan.stdout and "0 mandatory" in plan.stdout
    config = tmp_path / "policy.json"
    config.write_text(json.dumps({"ec2-allowed-instance-types": {
        "allowedInstanceTypes": ["t3.*"]}}))
    check = envkit(installed, "policy", "check", "--policy-config", str(config))
    assert check.returncode == 0, check.stderr
    assert "0 mandatory" in check.stdout
    config.write_text(json.dumps({"ec2-allowed-instance-types": {"allowedInstanceTypes": 3}}))
    bad = envkit(installed, "policy", "check", "--policy-config", str(config))
    assert bad.returncode == 2 and "allowedInstanceTypes" in bad.stderr
    project = envkit(installed, "policy", "check", str(ROOT / "tests/fixtures/unsafe-project"))
    assert project.returncode == 4, project.stderr


def test_kernel_installs_for_the_wheels_interpreter(installed, tmp_path):
    done = envkit(installed, "kernel", "install", "--prefix", str(tmp_path))
    assert done.returncode == 0, done.stderr
    spec = json.loads((tmp_path / "share/jupyter/kernels/envkit/kernel.json").read_text())
    assert spec["argv"][0] == str(installed["python"])
    assert spec["argv"][1:3] == ["-m", "envkit.notebook.kernel"]


def test_policy_pack_for_the_engine_runs_under_the_wheels_interpreter(installed):
    made = _run([installed["python"], "-c", "from envkit.policy.pack import engine_pack; "
                 "from envkit.policy.rules import POLICIES; import json; "
                 "print(json.dumps([str(engine_pack()), [p.name for p in POLICIES]]))"],
                cwd=installed["work"], env=installed["env"])
    assert made.returncode == 0, made.stderr
    folder, names = json.loads(made.stdout)
    pack = Path(folder)
    assert pack.is_relative_to(Path(installed["env"]["ENVKIT_HOME"]))
    options = yaml.safe_load((pack / "PulumiPolicy.yaml").read_text())["runtime"]["options"]
    assert options["virtualenv"] == str(installed["venv"])
    ran = _run([Path(options["virtualenv"]) / "bin" / "python", "-c", RECORD], cwd=pack,
               env=installed["env"])
    assert ran.returncode == 0, ran.stderr
    assert json.loads(ran.stdout.splitlines()[-1])["policies"] == names


def test_gitignore_covers_what_init_jupyter_and_builds_write():
    top = _run(["git", "-C", ROOT, "rev-parse", "--show-toplevel"])
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT:
        pytest.skip(f"{ROOT} is not a git checkout (an sdist?): no .gitignore to check")
    paths = ["envkit.yaml", "notebooks/.ipynb_checkpoints/01-iam-basics-checkpoint.ipynb",
             "build/lib/envkit/cli/__init__.py", "dist/envkit-0.1.0.tar.gz",
             "envkit.egg-info/PKG-INFO",
             ".venv/bin/python"]
    ignored = _run(["git", "-C", ROOT, "check-ignore", "--no-index", *paths])
    assert ignored.stdout.split() == paths
    kept = _run(["git", "-C", ROOT, "check-ignore", "--no-index", "labs/aws-basics.yaml",
                 "notebooks/01-iam-basics.ipynb", "envkit/labs"])
    assert kept.returncode == 1 and not kept.stdout  # none of these is ignored


def test_init_notebooks_then_run_all_of_every_notebook_from_the_wheel(installed, tmp_path,
                                                                      monkeypatch):
    """As a user does after `pipx install`: an empty folder, `envkit init --notebooks`, the
    kernel installed, then Run All of each copied notebook (nbclient drives the wheel's
    kernel; nothing of the checkout is on its path)."""
    import nbformat
    from nbclient import NotebookClient

    folder = tmp_path / "course"
    folder.mkdir()
    init = _run([installed["venv"] / "bin" / "envkit", "init", "--notebooks"], cwd=folder,
                env=installed["env"])
    assert init.returncode == 0, init.stderr
    assert "open these copies" in init.stdout
    prefix = tmp_path / "jupyter"
    kernel = envkit(installed, "kernel", "install", "--prefix", str(prefix))
    assert kernel.returncode == 0, kernel.stderr
    monkeypatch.setenv("JUPYTER_PATH", str(prefix / "share" / "jupyter"))
    copies = sorted((folder / "notebooks").glob("*.ipynb"))
    assert [p.name for p in copies] == ["01-iam-basics.ipynb", "02-ec2-web-server.ipynb",
                                        "03-policy-gate.ipynb", "04-classroom.ipynb"]
    for path in copies:
        nb = nbformat.read(path, as_version=4)
        nb.cells.append(nbformat.v4.new_code_cell("import envkit; print('envkit from', "
                                                  "envkit.__file__)"))
        # iopub_timeout: on a busy machine the last cell's output can arrive after nbclient's
        # default 4 s wait for it, and nbclient then moves on without it.
        NotebookClient(nb, kernel_name="envkit", timeout=300, iopub_timeout=60,
                       raise_on_iopub_timeout=True,
                       resources={"metadata": {"path": str(path.parent)}}
                       ).execute(env=installed["env"])
        errors = [out for cell in nb.cells for out in cell.get("outputs", [])
                  if out["output_type"] == "error"]
        assert not errors, (path.name, errors[0].get("ename"), errors[0].get("evalue"))
        where = nb.cells[-1].outputs[0]["text"].split("envkit from ", 1)[1].strip()
        assert Path(where).is_relative_to(installed["venv"]), (path.name, where)


def test_wheel_ships_notebooks_without_outputs_whatever_the_working_copy_holds(tmp_path):
    """JupyterLab autosaves outputs into notebooks/; a wheel built afterwards must still
    ship the notebooks as committed, without outputs."""
    import nbformat

    tree = tmp_path / "tree"
    listed = _run(["git", "-C", ROOT, "ls-files", "-z"])
    if listed.returncode != 0:
        pytest.skip(f"{ROOT} is not a git checkout (an sdist?): no tracked files to copy")
    for name in listed.stdout.split("\0"):
        source = ROOT / name
        if name and (source.is_file() or source.is_symlink()):
            (tree / name).parent.mkdir(parents=True, exist_ok=True)
            if source.is_symlink():
                (tree / name).symlink_to(os.readlink(source))
            else:
                (tree / name).write_bytes(source.read_bytes())
    dirty = tree / "notebooks" / "01-iam-basics.ipynb"
    nb = nbformat.read(dirty, as_version=4)
    nb.cells[1].outputs = [nbformat.v4.new_output("stream", text="autosaved output\n")]
    nb.cells[1].execution_count = 7
    nbformat.write(nb, dirty)
    clean = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = _run([sys.executable, "-m", "build", "--wheel", "--no-isolation", "--outdir",
                 tmp_path / "dist", tree], env=clean)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    with zipfile.ZipFile(next((tmp_path / "dist").glob("envkit-*.whl"))) as wheel:
        shipped = nbformat.reads(wheel.read("envkit/notebooks/01-iam-basics.ipynb").decode(),
                                 as_version=4)
    assert shipped.cells[1].source == nb.cells[1].source
    for cell in shipped.cells:
        if cell.cell_type == "code":
            assert not cell.outputs and cell.execution_count is None


def test_distributions_are_built_from_committed_files_only(tmp_path):
    """A changed lab ships as committed and an untracked file not at all, in the sdist and
    in the wheel built from it (setup.py's build hook); the working copy is untouched."""
    top = _run(["git", "-C", ROOT, "rev-parse", "--show-toplevel"])
    if top.returncode != 0 or Path(top.stdout.strip()).resolve() != ROOT:
        pytest.skip(f"{ROOT} is not a git checkout (an sdist?): nothing committed to compare")
    clone = tmp_path / "clone"
    assert _run(["git", "clone", "--quiet", "--no-hardlinks", ROOT, clone]).returncode == 0
    lab = clone / "labs" / "iam-basics.yaml"
    committed = lab.read_bytes()
    lab.write_bytes(committed + b"# an edit nobody committed\n")
    (clone / "envkit" / "scratch_untracked.py").write_text("raise SystemExit('shipped')\n")
    out = tmp_path / "dist"
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    done = _run([sys.executable, "-m", "build", "--no-isolation", "--outdir", out, clone],
                env=env)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "shipped as committed (changed since): labs/iam-basics.yaml" in done.stderr
    with zipfile.ZipFile(next(out.glob("envkit-*.whl"))) as wheel:
        assert wheel.read("envkit/labs/iam-basics.yaml") == committed
        assert "envkit/scratch_untracked.py" not in wheel.namelist()
    with tarfile.open(next(out.glob("envkit-*.tar.gz"))) as sdist:
        names = sdist.getnames()
        assert sdist.extractfile(next(n for n in names if n.endswith("/labs/iam-basics.yaml"))
                                 ).read() == committed
        assert not [n for n in names if "scratch_untracked" in n or "node_modules" in n]
    assert lab.read_bytes().endswith(b"# an edit nobody committed\n")  # the working copy
