"""The spec: the reference lab loads exactly as written, every feature lands in the model,
and every kind of bad input is one SpecError naming file, line and field."""

from __future__ import annotations

import contextlib
import copy
import json
import os
import textwrap
from datetime import timedelta

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st
from pydantic import ValidationError

from envkit import EnvironmentSpec, SpecError, load_spec
from envkit.spec import load_spec_text
from envkit.spec.models import parse_ttl

from .conftest import BASICS, LABS, ROOT, basics_dict, five_mistakes, minimal


def test_reference_spec_loads_exactly_as_written():
    shared = ROOT.parent / "shared" / "examples" / "aws-basics.yaml"
    if shared.exists():
        assert shared.read_text() == BASICS.read_text(), "labs/aws-basics.yaml drifted"
    spec = load_spec(BASICS)
    assert spec.name == "aws-basics" and spec.region == "us-east-1"
    assert spec.owner == "instructor@example.com" and spec.ttl_delta == timedelta(hours=8)
    assert spec.tags == {"course": "aws-101"}
    iam = spec.iam
    assert iam.account_alias == "aws-basics-lab"
    pp = iam.password_policy
    assert (pp.minimum_length, pp.max_age_days, pp.reuse_prevention) == (14, 90, 24)
    assert iam.groups["administrators"].require_mfa
    assert iam.groups["developers"].managed_policies == ["ReadOnlyAccess"]
    doc = iam.groups["developers"].inline_policies["start-stop-lab-instances"]
    assert doc.Statement[0].Condition == {
        "StringEquals": {"aws:ResourceTag/envkit:environment": "aws-basics"}}
    assert iam.users["aditya"].console and iam.users["aditya"].groups == ["administrators"]
    assert iam.roles["web-server"].trusted_service == "ec2.amazonaws.com"
    assert iam.roles["web-server"].instance_profile is True
    ec2 = spec.ec2
    assert ec2.network.vpc_cidr == "10.20.0.0/16" and ec2.network.subnet_cidr == "10.20.0.0/24"
    assert ec2.key_pairs["learning-ec2"].generated
    rules = ec2.security_groups["web"].ingress
    assert [r.resolved() for r in rules] == [("tcp", 22, 22), ("tcp", 80, 80),
                                              ("tcp", 8080, 8081)]
    web = ec2.instances["web"]
    assert (web.ami, web.type, web.key_pair, web.role) == (
        "amazon-linux-2023", "t2.micro", "learning-ec2", "web-server")
    assert web.user_data.template == "web-server" and web.elastic_ip
    assert web.extra_network_interfaces == 1 and web.purchase == "on-demand"
    assert web.root_volume.size_gb == 8 and web.root_volume.encrypted


@pytest.mark.parametrize("lab", sorted(LABS.glob("*.yaml")), ids=lambda p: p.name)
def test_shipped_labs_load(lab):
    assert load_spec(lab).name


def test_load_from_text_dict_and_path_agree(basics_text):
    a = load_spec(BASICS)
    assert load_spec(basics_text) == a
    assert load_spec(basics_dict()) == a
    assert load_spec(str(BASICS)) == a


def test_models_are_the_python_api():
    spec = EnvironmentSpec(name="py-lab", owner="me@example.com",
                           iam={"users": {"ann": {"groups": ["g"]}}, "groups": {"g": {}}})
    assert spec.iam.users["ann"].groups == ["g"]
    assert load_spec(spec) is spec


def test_secure_defaults_in_the_model():
    spec = load_spec(minimal(ec2={"instances": {"vm": {}}, "security_groups": {"sg": {}}}))
    vm = spec.ec2.instances["vm"]
    assert vm.imdsv2 and vm.root_volume.encrypted and not vm.elastic_ip
    assert vm.purchase == "on-demand" and vm.tenancy == "default"
    egress = spec.ec2.security_groups["sg"].egress
    assert [r.resolved() for r in egress] == [("tcp", 80, 80), ("tcp", 443, 443)]
    assert spec.ec2.network.vpc_cidr == "default"


def test_password_policy_defaults_are_cis():
    pp = load_spec(minimal(iam={"password_policy": {}})).iam.password_policy
    assert pp.minimum_length >= 14 and pp.reuse_prevention == 24 and pp.max_age_days == 90
    assert pp.require_symbols and pp.require_numbers and pp.require_uppercase
    assert pp.require_lowercase


def test_role_trust_and_instance_profile_rules():
    roles = load_spec(minimal(iam={"roles": {
        "svc": {"trusted_service": "lambda"},
        "xacct": {"trusted_account": "123456789012"},
    }})).iam.roles
    assert roles["svc"].trusted_service == "lambda.amazonaws.com"
    assert not roles["svc"].instance_profile and not roles["xacct"].instance_profile


def test_user_data_file_is_relative_to_the_spec(tmp_path):
    (tmp_path / "setup.sh").write_text("#!/bin/sh\necho hi\n")
    spec_file = tmp_path / "lab.yaml"
    spec_file.write_text(textwrap.dedent("""\
        name: files
        owner: me@example.com
        ec2:
          instances:
            vm: {user_data: {file: setup.sh}}
        """))
    vm = load_spec(spec_file).ec2.instances["vm"]
    assert vm.user_data.file == tmp_path / "setup.sh"


def test_existing_public_key(tmp_path):
    from envkit.components.keys import generate_openssh_key

    public, _ = generate_openssh_key("ed25519")
    kp = load_spec(minimal(ec2={"key_pairs": {"mine": {"public_key": public}}})
                   ).ec2.key_pairs["mine"]
    assert not kp.generated and kp.public_key_text() == public


@pytest.mark.parametrize("text,expected", [
    ("8h", timedelta(hours=8)), ("30m", timedelta(minutes=30)), ("2d", timedelta(days=2)),
    ("1w", timedelta(weeks=1)), ("1d12h", timedelta(days=1, hours=12)),
])
def test_ttl_forms(text, expected):
    assert parse_ttl(text) == expected


# --- bad input: (what to change in the reference lab, field, message fragment, line) ------

BAD = [
    ("type: t2.micro", "type: t2.mega", "ec2.instances.web.type",
     "unknown instance type 't2.mega'", 64),
    ("elastic_ip: true", "elastic_ipp: true", "ec2.instances.web.elastic_ipp",
     "did you mean 'elastic_ip'", 70),
    ("203.0.113.0/24", "203.0.113.0/33", "ec2.security_groups.web.ingress[0].from",
     "invalid CIDR", 57),
    ("203.0.113.0/24", "203.0.113.5/24", "ec2.security_groups.web.ingress[0].from",
     "host bits set", 57),
    ("8080-8081", "8081-8080", "ec2.security_groups.web.ingress[2].ports",
     "written backwards", 59),
    ("8080-8081", "8080-70000", "ec2.security_groups.web.ingress[2].ports",
     "outside 0-65535", 59),
    ("service: http,", "service: htp,", "ec2.security_groups.web.ingress[1].service",
     "unknown service 'htp'", 58),
    ("groups: [developers]", "groups: [devs]", "iam.users.dev1.groups[0]",
     "unknown group 'devs'; known groups: administrators, developers", 42),
    ("role: web-server", "role: web", "ec2.instances.web.role", "unknown role 'web'", 67),
    ("key_pair: learning-ec2", "key_pair: learning", "ec2.instances.web.key_pair",
     "unknown key pair 'learning'; known key pairs: learning-ec2", 65),
    ("security_groups: [web]", "security_groups: [www]", "ec2.instances.web.security_groups[0]",
     "unknown security group 'www'", 66),
    ("availability_zone: us-east-1a", "availability_zone: us-west-2a",
     "ec2.network.availability_zone", "not an availability zone of us-east-1", 50),
    ("region: us-east-1", "region: us-east-9", "region", "unknown region 'us-east-9'", 5),
    ("minimum_length: 14", "minimum_length: 200", "iam.password_policy.minimum_length",
     "at most 128", 14),
    ("reuse_prevention: 24", "reuse_prevention: 25", "iam.password_policy.reuse_prevention",
     "at most 24", 20),
    ("max_age_days: 90", "max_age_days: 0", "iam.password_policy.max_age_days",
     "at least 1", 19),
    ("[ReadOnlyAccess]", "[ReadOnlyAcess]", "iam.groups.developers.managed_policies[0]",
     "no AWS managed policy is named 'ReadOnlyAcess' (did you mean 'ReadOnlyAccess'?)", 26),
    ("- Effect: Allow", "- Effect: Permit",
     "iam.groups.developers.inline_policies.start-stop-lab-instances.Statement[0].Effect",
     "'Permit' is not allowed", 31),
    ("              Action: [ec2:StartInstances, ec2:StopInstances]\n", "",
     "iam.groups.developers.inline_policies.start-stop-lab-instances.Statement[0]",
     "exactly one of Action or NotAction", 31),
    ('              Resource: "arn:aws:ec2:*:*:instance/*"\n', "",
     "iam.groups.developers.inline_policies.start-stop-lab-instances.Statement[0]",
     "exactly one of Resource or NotResource", 31),
    ("ttl: 8h", "ttl: 8 hours", "ttl", "cannot parse ttl '8 hours'", 6),
    ("extra_network_interfaces: 1", "extra_network_interfaces: 3",
     "ec2.instances.web.extra_network_interfaces", "t2.micro supports at most 2", 71),
    ("name: aws-basics ", "name: AWS_basics ", "name", "is not a valid name", 4),
    ("name: aws-basics ", "name: " + "a" * 41 + " ", "name", "at most 40", 4),
    ("account_alias: aws-basics-lab", "account_alias: Aws_Lab", "iam.account_alias",
     "not a valid account alias", 12),
    ("    dev1:\n", "    'dev 1':\n", "iam.users.dev 1", "is not a valid name", 44),
    ("ami: amazon-linux-2023", "ami: amazon-linux-2024", "ec2.instances.web.ami",
     "unknown AMI alias 'amazon-linux-2024' (did you mean 'amazon-linux-2023'?)", 63),
    ("user_data: web-server", "user_data: {file: no-such-script.sh}",
     "ec2.instances.web.user_data.file", "does not exist", 68),
    ("user_data: web-server", "user_data: apache", "ec2.instances.web.user_data",
     "unknown user_data template 'apache'", 68),
    ("elastic_ip: true", "elastic_ip: maybe", "ec2.instances.web.elastic_ip",
     "expected true or false", 69),
    ("purchase: on-demand", "purchase: reserved", "ec2.instances.web.purchase",
     "'reserved' is not allowed", 72),
    ("size_gb: 8", "size_gb: 0", "ec2.instances.web.root_volume.size_gb", "at least 1", 71),
    ("vpc_cidr: 10.20.0.0/16", "vpc_cidr: 10.0.0.0/8", "ec2.network.vpc_cidr",
     "between /16 and /28", 49),
    ("trusted_service: ec2", "trusted_service: '*'",
     "iam.roles.web-server.trusted_service", "not a service name", 47),
    ("owner: instructor@example.com", "owner: ''", "owner", "at least 1", 6),
]


@pytest.mark.parametrize("old,new,field,fragment,line", BAD, ids=[b[2] + ":" + b[3][:20]
                                                                 for b in BAD])
def test_bad_input_names_file_line_and_field(tmp_path, basics_text, old, new, field,
                                             fragment, line):
    assert old in basics_text
    path = tmp_path / "lab.yaml"
    path.write_text(basics_text.replace(old, new, 1))
    with pytest.raises(SpecError) as info:
        load_spec(path)
    matching = [i for i in info.value.issues if i.field == field and fragment in i.message]
    assert matching, f"no issue for {field} with {fragment!r}: {info.value}"
    issue = matching[0]
    assert issue.file == str(path)
    text = path.read_text()
    if new:  # the line the edit landed on; removals are reported at the enclosing entry
        line = text[: text.index(new.strip())].count("\n") + 1
    assert issue.line == line, str(issue)
    assert str(issue).startswith(f"{path}:{issue.line}: {field}: ")


@pytest.mark.parametrize("text,fragment,line", [
    ("", "the spec is empty", None),
    ("- a\n- b\n", "must be a mapping", 1),
    ("just a string\n", "must be a mapping", None),
    ("name: x\nname: y\n", 'found duplicate key "name"', 2),
    ("name: [x\nowner: y\n", "malformed YAML", 2),
    ("name: lab\n\towner: y\n", "malformed YAML", 2),
    ("name: lab\n", "owner: this key is required", None),
])
def test_malformed_documents(text, fragment, line):
    with pytest.raises(SpecError) as info:
        load_spec(text)
    assert fragment in str(info.value)
    if line is not None:
        assert info.value.issues[0].line == line


def test_more_elastic_ips_than_the_account_limit():
    instances = {f"vm{i}": {"elastic_ip": True} for i in range(6)}
    with pytest.raises(SpecError, match="AWS's default limit per region is 5"):
        load_spec(minimal(ec2={"instances": instances}))


def test_spot_needs_a_type_that_supports_spot():
    spec = load_spec(minimal(ec2={"instances": {"vm": {"type": "t3.micro",
                                                       "purchase": "spot"}}}))
    assert spec.ec2.instances["vm"].purchase == "spot"


def test_arm_image_on_an_x86_type_is_refused():
    with pytest.raises(SpecError, match="cannot run 'amazon-linux-2023-arm64'"):
        load_spec(minimal(ec2={"instances": {"vm": {"ami": "amazon-linux-2023-arm64",
                                                    "type": "t3.micro"}}}))


def test_instance_role_must_have_an_instance_profile():
    with pytest.raises(SpecError, match="has no instance profile"):
        load_spec(minimal(iam={"roles": {"r": {"trusted_service": "lambda"}}},
                          ec2={"instances": {"vm": {"role": "r"}}}))


# --- every problem in one pass -----------------------------------------------------------------

def test_field_and_cross_reference_errors_are_reported_together_in_file_order(basics_text):
    text, expected = five_mistakes(basics_text)
    with pytest.raises(SpecError) as info:
        load_spec(text)
    found = info.value.issues
    assert len(found) == 5, str(info.value)
    for issue, (line, field, fragment) in zip(found, expected, strict=True):
        assert (issue.line, issue.field) == (line, field) and fragment in issue.message, issue
    assert str(info.value).splitlines() == [str(i) for i in found]


def test_every_unknown_key_of_a_mapping_is_reported_and_the_rest_still_checked():
    text = textwrap.dedent("""\
        name: lab
        ownr: me@example.com
        regoin: us-east-1
        iam:
          users:
            ann: {group: [devs], consol: true}
            bob: {groups: [devs]}
        """)
    with pytest.raises(SpecError) as info:
        load_spec(text)
    assert [(i.line, i.field) for i in info.value.issues] == [
        (2, "ownr"), (3, "regoin"), (6, "iam.users.ann.consol"), (6, "iam.users.ann.group"),
        (7, "iam.users.bob.groups[0]")]
    # "owner: this key is required" would say again what "did you mean 'owner'?" says
    assert "required" not in str(info.value)
    assert "unknown key 'ownr' (did you mean 'owner'?)" in str(info.value)


@pytest.mark.parametrize("section,fragment", [
    # The default that stands in for a value that failed is not what the user wrote:
    # no check concludes anything from it.
    ({"region": "eu-wst-1", "ec2": {"network": {"availability_zone": "eu-west-1a"}}},
     "unknown region 'eu-wst-1'"),
    ({"ec2": {"instances": {"vm": {"ami": "amazon-linux-2023-arm", "type": "t4g.micro"}}}},
     "unknown AMI alias 'amazon-linux-2023-arm'"),
    ({"ec2": {"instances": {"vm": {"type": "t4g.mcro", "ami": "amazon-linux-2023-arm64"}}}},
     "unknown instance type 't4g.mcro'"),
    ({"ec2": {"key_pairs": {"k": {"type": "dsa"}},
              "instances": {"vm": {"key_pair": "k", "ami": "windows-2022"}}}},
     "'dsa' is not allowed"),
    # An entry that failed is still a name the spec defines: no "unknown group" for it.
    ({"iam": {"groups": {"devs": ["ReadOnlyAccess"]}, "users": {"ann": {"groups": ["devs"]}}}},
     "expected a mapping"),
    ({"iam": {"groups": ["devs"], "users": {"ann": {"groups": ["devs"]}}}},
     "expected a mapping"),
    ({"ec2": "dedicated", "classroom": {"roster": ["ann"], "ttl": "2w", "per_student": {
        "users": ["student"], "instances": ["web"]}}, "iam": {"users": {"student": {}}}},
     "expected a mapping"),
])
def test_a_part_that_fails_validation_is_reported_once_and_not_checked_again(section,
                                                                          fragment):
    with pytest.raises(SpecError) as info:
        load_spec({**minimal(), **section})
    assert len(info.value.issues) == 1 and fragment in str(info.value), str(info.value)


def test_cross_references_are_checked_when_a_required_key_fails():
    with pytest.raises(SpecError) as info:
        load_spec(minimal(name="Bad_Name", owner="", iam={"users": {"ann": {"groups": ["x"]}}}))
    assert [i.field for i in info.value.issues] == ["iam.users.ann.groups[0]", "name",
                                                    "owner"]


def _paths(value, path=()):
    """Every value's path in a document (mappings and lists included)."""
    yield path
    items = value.items() if isinstance(value, dict) else \
        enumerate(value) if isinstance(value, list) else ()
    for key, item in items:
        yield from _paths(item, (*path, key))


def _dotted(path: tuple) -> str:
    return "".join(f"[{p}]" if isinstance(p, int) else f".{p}" for p in path).lstrip(".")


def _related(field: str, other: str) -> bool:
    """Whether one dotted field is the other or holds it."""
    short, long = sorted((field, other), key=len)
    return long.startswith(short) and (short == long or short == "" or long[len(short)] in ".[")


SHIPPED = {lab.name: yaml.safe_load(lab.read_text()) for lab in sorted(LABS.glob("*.yaml"))}
BAD_VALUES = [None, 5, -1, 1e300, "", "x" * 300, "\x1b[31m", [], {}, ["x"], True, "t2.mega",
              "moon-1", "Bad_Name"]


@settings(max_examples=200, deadline=None, derandomize=True,
          suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_one_bad_value_is_reported_there_and_nowhere_else(data):
    """A shipped lab with one value made invalid (or one bad entry added to a mapping):
    every problem reported is at that value, inside it or at the entry holding it. A check
    never reports what the default standing in for the bad value implies elsewhere (an
    unknown group, an image the type cannot run)."""
    lab = data.draw(st.sampled_from(sorted(SHIPPED)))
    doc = copy.deepcopy(SHIPPED[lab])
    path = data.draw(st.sampled_from([p for p in _paths(doc) if p]))
    holder = doc
    for part in path[:-1]:
        holder = holder[part]
    if isinstance(holder[path[-1]], dict) and data.draw(st.booleans()):
        path = (*path, "x")  # a new key, or a new named entry that is not a mapping
        holder = holder[path[-2]]
    holder[path[-1]] = data.draw(st.sampled_from(BAD_VALUES))
    try:
        EnvironmentSpec.model_validate(doc, context={"defer_checks": True, "base_dir": LABS})
        assume(False)  # the value is valid there: what it implies is the checks' business
    except ValidationError:
        pass
    with pytest.raises(SpecError) as info:
        load_spec_text(yaml.safe_dump(doc), base_dir=LABS)
    issues = info.value.issues
    assert issues and len(set(issues)) == len(issues)
    assert [(i.line, i.field) for i in issues] == sorted((i.line, i.field) for i in issues)
    assert all(_related(i.field, _dotted(path)) for i in issues), (path, str(info.value))


def test_managed_policy_arns_pass_through():
    arn = "arn:aws:iam::123456789012:policy/custom"
    spec = load_spec(minimal(iam={"groups": {"g": {"managed_policies": [arn]}}}))
    assert spec.iam.groups["g"].managed_policies == [arn]


# --- property-based: the loader raises only SpecError, whatever it is given ---------------

yaml_scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=False),
                         st.text(max_size=20))
keys = st.sampled_from(["name", "owner", "region", "ttl", "tags", "iam", "ec2", "groups",
                        "users", "roles", "instances", "type", "ami", "ingress", "from",
                        "ports", "service", "network", "vpc_cidr", "console", "x"])
documents = st.recursive(yaml_scalars, lambda inner: st.one_of(
    st.lists(inner, max_size=4), st.dictionaries(keys, inner, max_size=5)), max_leaves=20)


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(documents)
def test_loader_raises_only_spec_error_on_arbitrary_structures(doc):
    import yaml

    with contextlib.suppress(SpecError):
        load_spec(yaml.safe_dump(doc) if not isinstance(doc, str) else doc)


@settings(max_examples=150, deadline=None)
@given(st.text(max_size=200))
def test_loader_raises_only_spec_error_on_arbitrary_text(text):
    with contextlib.suppress(SpecError):
        load_spec(text + "\n")


@settings(max_examples=60, deadline=None)
@given(st.dictionaries(keys, yaml_scalars, max_size=6))
def test_loader_raises_only_spec_error_on_dicts(doc):
    with contextlib.suppress(SpecError):
        load_spec({**minimal(), **doc})


# --- YAML features a spec may use -------------------------------------------------------------

def test_anchors_merges_and_application_tags():
    spec = load_spec(textwrap.dedent("""\
        name: yaml-lab
        owner: tester@example.com
        tags: {course: !Sub aws-101}
        ec2:
          security_groups:
            base: &base
              description: shared rules
              ingress: [{service: http, from: 0.0.0.0/0}]
            web:
              <<: *base
              description: web rules
          instances:
            vm: {security_groups: [web]}
        """))
    web = spec.ec2.security_groups["web"]
    assert web.description == "web rules"  # an explicit key wins over the merged one
    assert [r.service for r in web.ingress] == ["http"]  # the rest comes from the anchor
    assert spec.tags == {"course": "aws-101"}  # an application tag is its text


def test_duplicate_key_in_a_nested_mapping_names_its_line(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text("name: lab\nowner: a@example.com\niam:\n  users:\n    ana: {}\n"
                    "  users:\n    bob: {}\n")
    with pytest.raises(SpecError) as info:
        load_spec(path)
    assert str(info.value).startswith(f'{path}:6: ') and 'found duplicate key "users"' in str(
        info.value)


def test_yaml_1_2_plain_colons_in_flow_lists():
    """IAM actions are written unquoted in flow lists, as in the reference lab (YAML 1.2;
    a YAML 1.1 parser such as libyaml rejects them)."""
    spec = load_spec(textwrap.dedent("""\
        name: lab
        owner: a@example.com
        tags: {note: yes, when: 2024-01-01}
        iam:
          groups:
            g:
              inline_policies:
                p:
                  Statement:
                    - {Effect: Allow, Action: [ec2:StartInstances, ec2:StopInstances],
                       Resource: "*"}
        """))
    doc = json.loads(spec.iam.groups["g"].inline_policies["p"].to_json())
    assert doc["Statement"][0]["Action"] == ["ec2:StartInstances", "ec2:StopInstances"]
    assert spec.tags == {"note": "yes", "when": "2024-01-01"}  # 1.2: yes is a string


# --- what validates, plans: AWS's own rules at validation -------------------------------------


def _statement(**extra) -> dict:
    return {"iam": {"groups": {"g": {"inline_policies": {"p": {"Statement": [{
        "Effect": "Allow", "Action": "s3:GetObject", "Resource": "arn:aws:s3:::lab/*",
        **extra}]}}}}}}


STATEMENT = "iam.groups.g.inline_policies.p.Statement[0]"


@pytest.mark.parametrize("section,field,message", [
    (_statement(Action=5), f"{STATEMENT}.Action", "expected a string or a list, got number 5"),
    (_statement(Action=["s3:GetObject", 5]), f"{STATEMENT}.Action[1]",
     "expected a string, got number 5"),
    ({"ec2": {"security_groups": {"s": {"ingress": [
        {"protocol": "tcp", "ports": [22], "from": "10.0.0.0/8"}]}}}},
     "ec2.security_groups.s.ingress[0].ports", "expected a whole number or a string, got list"),
])
def test_a_value_that_fits_no_member_of_a_union_is_one_problem(section, field, message):
    with pytest.raises(SpecError) as info:
        load_spec(minimal(**section))
    (issue,) = info.value.issues
    assert issue.field == field and issue.message.startswith(message), issue


def test_numbers_and_booleans_in_conditions_are_iam_text():
    import envkit

    spec = load_spec(minimal(**_statement(Condition={
        "NumericLessThan": {"aws:MultiFactorAuthAge": 3600},
        "Bool": {"aws:SecureTransport": True},
        "NumericGreaterThan": {"s3:max-keys": [1.5, 10]}})))
    condition = spec.iam.groups["g"].inline_policies["p"].Statement[0].Condition
    assert condition == {"NumericLessThan": {"aws:MultiFactorAuthAge": "3600"},
                         "Bool": {"aws:SecureTransport": "true"},
                         "NumericGreaterThan": {"s3:max-keys": ["1.5", "10"]}}
    policy = envkit.plan(spec).get("aws:iam/groupPolicy:GroupPolicy", "t-lab-group-g-p")
    assert '"aws:MultiFactorAuthAge":"3600"' in policy.inputs["policy"]


@pytest.mark.parametrize("value,fragment", [
    (".nan", "not a number an IAM condition takes"),
    (".inf", "not a number an IAM condition takes"),
    ("1e300", "not a number an IAM condition takes"),
    ("99999999999999999999", "out of range for an IAM condition"),
    ("{a: b}", "a condition value is text, a number or true/false"),
    ("null", "a condition value is text, a number or true/false"),
])
def test_condition_values_aws_refuses_are_refused_with_the_field(value, fragment):
    text = yaml.safe_dump(minimal(**_statement(Condition={"NumericLessThan": {"k": "X"}})))
    with pytest.raises(SpecError) as info:
        load_spec(text.replace("k: X", f"k: {value}"))
    assert info.value.issues[0].field.endswith("Statement[0].Condition.NumericLessThan.k")
    assert fragment in info.value.issues[0].message


def test_inline_policies_take_no_principal():
    with pytest.raises(SpecError, match="AWS refuses a Principal in them"):
        load_spec(minimal(**_statement(Principal="*")))


@pytest.mark.parametrize("field,value,fragment", [
    ("minimum_length", ".nan", "expected a finite number, got nan"),
    ("minimum_length", "1e400", "expected a finite number"),
    ("minimum_length", "99999999999999999999999", "must be at most 128"),
])
def test_non_finite_and_out_of_range_numbers_name_the_field(field, value, fragment):
    with pytest.raises(SpecError) as info:
        load_spec(f"name: lab\nowner: me\niam:\n  password_policy:\n    {field}: {value}\n")
    issue = info.value.issues[0]
    assert issue.field == f"iam.password_policy.{field}" and fragment in issue.message


def test_ttl_has_a_maximum():
    assert parse_ttl("365d") == timedelta(days=365)
    for text in ("366d", "53w", "99999999999999999999w"):
        with pytest.raises(ValueError, match="longer than the most envkit allows, 365 days"):
            parse_ttl(text)


@pytest.mark.parametrize("name", ["ünïcode", "名前", "tab\there", "a b", "x\n"])
def test_iam_names_are_ascii_as_aws_requires(name):
    with pytest.raises(SpecError, match="is not a valid name: use ASCII letters"):
        load_spec(minimal(iam={"users": {name: {}}}))


@pytest.mark.parametrize("key,kind", [("1", "a number"), ("true", "a boolean"),
                                      ("2024-01-01", "a date"), ("3.5", "a number")])
def test_keys_that_yaml_reads_as_other_types_have_their_own_message(key, kind):
    with pytest.raises(SpecError) as info:
        load_spec(f"name: lab\nowner: me\ntags:\n  {key}: x\n")
    assert info.value.issues[0].line == 4
    assert f"reads as {kind}, not text: quote it" in str(info.value)
    quoted = load_spec(f"name: lab\nowner: me\ntags:\n  '{key}': x\n")
    assert quoted.tags == {key: "x"}
    with pytest.raises(SpecError, match="a key is empty"):
        load_spec("name: lab\nowner: me\ntags:\n  ~: x\n")


def test_user_data_files_must_be_utf8_text_within_16_kib(tmp_path):
    base = minimal(ec2={"instances": {"vm": {"user_data": {"file": "boot.sh"}}}})
    (tmp_path / "boot.sh").write_bytes("echo M\xfcnchen\n".encode("latin-1"))
    (tmp_path / "lab.yaml").write_text(yaml.safe_dump(base))
    with pytest.raises(SpecError, match="is not UTF-8 text"):
        load_spec(tmp_path / "lab.yaml")
    (tmp_path / "boot.sh").write_text("#" * (16 * 1024 + 1))
    with pytest.raises(SpecError, match="a user-data may be at most 16 KiB"):
        load_spec(tmp_path / "lab.yaml")
    (tmp_path / "boot.sh").unlink()
    os.mkfifo(tmp_path / "boot.sh")
    with pytest.raises(SpecError, match="not a regular file"):
        load_spec(tmp_path / "lab.yaml")


def test_index_html_may_not_push_user_data_past_16_kib():
    spec = minimal(ec2={"instances": {"vm": {"user_data": {
        "template": "web-server", "index_html": "<p>" + "x" * 17_000}}}})
    with pytest.raises(SpecError, match="index_html makes the user data"):
        load_spec(spec)


@pytest.mark.parametrize("owner", ["Jane O'Brien", "ops (lab)", "a\x1bb", "x\u2028y"])
def test_owner_and_tags_follow_iams_tag_characters(owner):
    with pytest.raises(SpecError, match="not allowed in tags"):
        load_spec(minimal(owner=owner))
    with pytest.raises(SpecError, match="not allowed in tags"):
        load_spec(minimal(tags={"team": owner}))
    assert load_spec(minimal(owner="Zoë Müller @ lab-1")).owner == "Zoë Müller @ lab-1"


def test_security_group_descriptions_follow_ec2s_characters():
    with pytest.raises(SpecError, match="EC2 accepts only letters"):
        load_spec(minimal(ec2={"security_groups": {"web": {"description": "Zugriff für Web"}}}))


def test_trailing_newlines_do_not_slip_through_patterns():
    for bad in ({"iam": {"account_alias": "lab-alias\n"}},
                _statement(Action="s3:GetObject\n"),
                {"iam": {"roles": {"r": {"trusted_service": "ec2\n"}}}}):
        with pytest.raises(SpecError):
            load_spec(minimal(**bad))


def test_a_public_key_that_is_not_one_is_a_spec_error():
    with pytest.raises(SpecError, match="not an OpenSSH public key"):
        load_spec(minimal(ec2={"key_pairs": {"k": {"public_key": "$(touch pwned)"}}}))
