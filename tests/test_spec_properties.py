"""What validates, plans: specs generated from the pydantic models themselves (every field
of every model, from its type annotation and bounds) are validated, and each one that
validates is planned and policy-checked through the CLI's `main`. Exit codes may be 0 or 4
(a policy verdict), never 1 (an internal error), and never a traceback.

40 examples run by default, the same ones each run; ENVKIT_PROPERTY_EXAMPLES=N explores N
new ones. Values mix plausible ones (names the spec defines elsewhere, real instance types, AWS
managed policies, AMI aliases) with hostile ones (Unicode, control characters, numbers and
booleans where text is expected, NaN and infinities, huge numbers), so many examples are
refused and the rest reach the planner with unusual but valid content.
"""

from __future__ import annotations

import contextlib
import math
import os
import types
import typing
from pathlib import Path

import pytest
import yaml
from annotated_types import Ge, Le, MaxLen, MinLen
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from envkit import SpecError, load_spec
from envkit.cli import main
from envkit.spec import models
from envkit.spec.amis import AMI_ALIASES
from envkit.spec.ec2_models import SERVICES

NAMES = ["lab", "web", "dev", "students", "admins", "ann", "bob", "a.b@c", "x-1"]
HOSTILE_TEXT = st.sampled_from([
    "", " ", "ünïcödé", "名前", "a\x1b[31mred", "tab\there", "line\nbreak", "[bold]x[/bold]",
    "$(touch pwned)", "-oProxyCommand=id", "../../etc", "*", "a" * 300, "\u202etxt",
])
HOSTILE_NUMBERS = st.sampled_from([0, -1, 1, 3600, 2 ** 63, -(2 ** 63) - 1, 10 ** 30, 1.5,
                                   math.nan, math.inf, -math.inf, 1e300, True, False])
PLAUSIBLE = {
    "region": st.sampled_from(["us-east-1", "eu-west-1", "ap-south-1", "moon-1"]),
    "type": st.sampled_from(["t3.micro", "t2.micro", "m5.large", "t4g.nano", "mac1.metal",
                             "p5.48xlarge", "t2.mega"]),
    "ami": st.sampled_from([*AMI_ALIASES, "ami-0123456789abcdef0", "ami-x"]),
    "managed_policies": st.lists(st.sampled_from(
        ["ReadOnlyAccess", "AdministratorAccess", "PowerUserAccess", "IAMFullAccess",
         "arn:aws:iam::aws:policy/ReadOnlyAccess", "NoSuchPolicy"]), max_size=3),
    "groups": st.lists(st.sampled_from(NAMES), max_size=2),
    "key_pair": st.sampled_from(NAMES),
    "role": st.sampled_from(NAMES),
    "security_groups": st.lists(st.sampled_from(NAMES), max_size=2),
    "trusted_service": st.sampled_from(["ec2", "lambda", "ec2.amazonaws.com", "bad service"]),
    "trusted_account": st.sampled_from(["123456789012", "12345"]),
    "service": st.sampled_from([*SERVICES, "telnet"]),
    "protocol": st.sampled_from(["tcp", "udp", "icmp", "all", "gre"]),
    "ports": st.sampled_from([22, "8080-8081", 0, 65535, "80-22", 70000, "x"]),
    "from_": st.sampled_from(["10.0.0.0/8", ["0.0.0.0/0", "::/0"], "203.0.113.0/24", "bad"]),
    "to": st.sampled_from(["0.0.0.0/0", ["10.0.0.0/8"], "::/0"]),
    "vpc_cidr": st.sampled_from(["default", "10.30.0.0/16", "192.168.0.0/28", "10.0.0.0/8"]),
    "subnet_cidr": st.sampled_from([None, "10.30.1.0/24", "10.99.0.0/24"]),
    "availability_zone": st.sampled_from([None, "us-east-1a", "us-east-1z", "eu-west-1a"]),
    "ttl": st.sampled_from([None, "8h", "1d12h", "365d", "366d", "0m", "9" * 40 + "w"]),
    "account_alias": st.sampled_from(["lab-alias", "Lab", "ab", "a--b"]),
    "Action": st.sampled_from(["s3:GetObject", ["ec2:StartInstances", "ec2:StopInstances"],
                               "iam:*", "*", "s3:Get*", "bad action"]),
    "Resource": st.sampled_from(["*", "arn:aws:s3:::lab/*", ["arn:aws:ec2:*:*:instance/*"]]),
    "Condition": st.dictionaries(
        st.sampled_from(["StringEquals", "NumericLessThan", "Bool", "DateGreaterThan",
                         "IpAddress"]),
        st.dictionaries(st.sampled_from(["aws:MultiFactorAuthAge", "aws:SecureTransport",
                                         "aws:SourceIp", "aws:ResourceTag/envkit:environment"]),
                        st.one_of(HOSTILE_NUMBERS, HOSTILE_TEXT,
                                  st.lists(HOSTILE_NUMBERS, max_size=2)), max_size=2),
        max_size=2),
    "Principal": st.sampled_from([None] * 8 + ["*", {"AWS": "arn:aws:iam::1:root"}]),
    "NotPrincipal": st.sampled_from([None] * 9 + ["*"]),
    "NotAction": st.sampled_from([None] * 5 + ["iam:*"]),
    "NotResource": st.sampled_from([None] * 5 + ["arn:aws:s3:::x"]),
    "Sid": st.sampled_from([None, "ReadLab1", "bad sid!", "ünï"]),
}


def mostly(valid: st.SearchStrategy, hostile: st.SearchStrategy) -> st.SearchStrategy:
    """Three valid draws to one hostile draw."""
    return st.one_of(valid, valid, valid, hostile)


def _bounds(info) -> dict:
    out = {}
    for meta in info.metadata:
        if isinstance(meta, Ge):
            out["min_value"] = meta.ge
        if isinstance(meta, Le):
            out["max_value"] = meta.le
        if isinstance(meta, MaxLen):
            out["max_size"] = meta.max_length
        if isinstance(meta, MinLen):
            out["min_size"] = meta.min_length
    return out


def for_type(tp, bounds: dict, files: dict) -> st.SearchStrategy:
    """A strategy for a value of annotation ``tp`` (with Field bounds), as YAML would give."""
    origin, args = typing.get_origin(tp), typing.get_args(tp)
    if origin is typing.Annotated:
        return for_type(args[0], bounds, files)
    if origin in (typing.Union, types.UnionType):
        return st.one_of([for_type(a, bounds, files) for a in args])
    if origin is typing.Literal:
        return mostly(st.sampled_from(args), st.just("nope"))
    if isinstance(tp, type) and issubclass(tp, BaseModel):
        return model(tp, files)
    if origin is list:
        return st.lists(for_type(args[0], {}, files), min_size=bounds.get("min_size", 0),
                        max_size=min(bounds.get("max_size", 3), 3))
    if origin is dict:
        return st.dictionaries(st.one_of(st.sampled_from(NAMES), HOSTILE_TEXT),
                               for_type(args[1], {}, files), max_size=2)
    if tp is type(None):
        return st.none()
    if tp is bool:
        return mostly(st.booleans(), HOSTILE_NUMBERS)
    if tp is int:
        return mostly(st.integers(bounds.get("min_value", 0), bounds.get("max_value", 100)),
                      HOSTILE_NUMBERS)
    if tp is str:
        return mostly(st.sampled_from(NAMES), HOSTILE_TEXT)
    if tp is Path:
        return st.sampled_from(sorted(files.values()))
    return st.one_of(st.none(), HOSTILE_TEXT, HOSTILE_NUMBERS)  # Any


def model(cls: type[BaseModel], files: dict) -> st.SearchStrategy:
    """A mapping for ``cls``: each required field, and each optional one half the time."""
    required, optional = {}, {}
    for name, info in cls.model_fields.items():
        key = info.alias or name
        strategy = PLAUSIBLE[name] if name in PLAUSIBLE else \
            for_type(info.annotation, _bounds(info), files)
        (required if info.is_required() else optional)[key] = strategy
    return st.fixed_dictionaries(required, optional=optional)


@pytest.fixture(scope="module")
def files(tmp_path_factory) -> dict:
    from envkit.components.keys import generate_openssh_key

    folder = tmp_path_factory.mktemp("spec-files")
    public, _ = generate_openssh_key("ed25519")
    made = {"key": ("id lab.pub", public.encode()), "not-a-key": ("junk.pub", b"junk\n"),
            "script": ("boot script.sh", b"#!/bin/sh\necho 'hi $(id)'\n"),
            "latin1": ("latin1.sh", "echo M\xfcnchen\n".encode("latin-1")),
            "big": ("big.sh", b"#" * (17 * 1024))}
    out = {}
    for name, (filename, data) in made.items():
        (folder / filename).write_bytes(data)
        out[name] = str(folder / filename)
    return out


def _exit_code(argv: list[str], capsys) -> int:
    with pytest.raises(SystemExit) as done:
        main(argv)
    out, err = capsys.readouterr()
    assert "Traceback" not in out + err and "unexpected error" not in err, err[-3000:]
    return done.value.code


@settings(max_examples=int(os.environ.get("ENVKIT_PROPERTY_EXAMPLES", "40")), deadline=None,
          derandomize=not os.environ.get("ENVKIT_PROPERTY_EXAMPLES"),
          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                 HealthCheck.function_scoped_fixture])
@given(data=st.data())
def test_every_spec_that_validates_plans_and_policy_checks(data, files, tmp_path, capsys):
    doc = data.draw(model(models.EnvironmentSpec, files))
    doc.update(name="lab", owner=data.draw(st.sampled_from(["me@example.com", "Jane O'Brien",
                                                             "ünï cödé", "a\x1bb"])))
    try:
        text = yaml.safe_dump(doc, allow_unicode=True)
    except yaml.YAMLError:
        return
    spec = tmp_path / "lab.yaml"
    spec.write_text(text, encoding="utf-8")
    with contextlib.suppress(SpecError):
        load_spec(spec)
        event("valid")
        assert _exit_code(["validate", str(spec)], capsys) == 0
        assert _exit_code(["plan", str(spec)], capsys) in (0, 4)
        assert _exit_code(["policy", "check", str(spec)], capsys) in (0, 4)
        return
    assert _exit_code(["validate", str(spec)], capsys) == 2
