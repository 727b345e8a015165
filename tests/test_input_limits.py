"""Hostile input is bounded: a spec is read only from a regular file within the size limit,
YAML aliases, nesting and collections are capped while loading, and messages never render an
input in full. Bombs run in a child process with an address-space limit, so a regression
fails the test instead of exhausting the machine."""

from __future__ import annotations

import json
import os
import resource
import subprocess
import sys
import textwrap

import pytest

from envkit import SpecError, load_spec
from envkit.limits import (
    MAX_COLLECTION,
    MAX_DEPTH,
    MAX_NODES,
    MAX_SPEC_BYTES,
    clip,
    printable,
)
from envkit.spec import load_spec_text

from .conftest import BASICS, ROOT

HEAD = "name: lab\nowner: me@example.com\n"
ADDRESS_SPACE = 1536 * 2**20  # the CLI with pydantic and ruamel needs far less


def envkit_limited(*args: str, cwd=ROOT) -> subprocess.CompletedProcess:
    """The CLI in a child whose address space is capped: a bomb that expands makes the
    child fail (MemoryError, exit 1), never the machine."""
    def cap() -> None:
        resource.setrlimit(resource.RLIMIT_AS, (ADDRESS_SPACE, ADDRESS_SPACE))

    return subprocess.run([sys.executable, "-m", "envkit.cli", *args], capture_output=True,
                          text=True, cwd=cwd, timeout=120, preexec_fn=cap)


def condition_bomb(levels: int = 9) -> str:
    block = ["                  l0: &l0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]"]
    block += [f"                  l{i}: &l{i} [" + ", ".join([f"*l{i - 1}"] * 10) + "]"
              for i in range(1, levels)]
    return HEAD + textwrap.dedent("""\
        iam:
          groups:
            g:
              inline_policies:
                p:
                  Statement:
                    - Effect: Allow
                      Action: s3:GetObject
                      Resource: '*'
                      Condition:
                        StringEquals:
        """) + "\n".join(block) + "\n"


BOMBS = {
    "condition": condition_bomb(),
    "tags": HEAD + "x0: &x0 [a, a, a, a, a, a, a, a, a, a]\n" + "".join(
        f"x{i}: &x{i} [{', '.join([f'*x{i - 1}'] * 10)}]\n" for i in range(1, 9))
        + "tags: {t: *x8}\n",
    "long strings": HEAD + "s: &s " + "a" * 60_000 + "\n"
        + "tags: {t: [" + ", ".join(["*s"] * 2000) + "]}\n",
    "merge keys": HEAD + "m0: &m0 {a: 1, b: 2, c: 3, d: 4, e: 5, f: 6, g: 7, h: 8, i: 9}\n"
        + "".join(f"m{i}: &m{i} {{" + ", ".join(f"k{j}: *m{i - 1}" for j in range(10))
                  + "}\n" for i in range(1, 9)) + "iam: {users: {u: {<<: *m8}}}\n",
}


@pytest.mark.parametrize("name", sorted(BOMBS))
def test_alias_bombs_are_refused_while_loading(tmp_path, name):
    spec = tmp_path / "bomb.yaml"
    spec.write_text(BOMBS[name])
    assert spec.stat().st_size < 130_000
    done = envkit_limited("validate", str(spec))
    assert done.returncode == 2, done.stderr[-2000:]
    assert "once its aliases (*name) are expanded" in done.stderr
    assert f"{spec}:" in done.stderr and "Traceback" not in done.stderr


def test_a_recursive_alias_is_refused_with_its_line():
    with pytest.raises(SpecError, match=r"<spec>:3: an alias \(\*name\) refers to a "
                                        r"collection that contains it"):
        load_spec_text(HEAD + "tags: &t {a: *t}\n")


def test_nesting_deeper_than_the_limit_is_refused():
    text = HEAD + "tags: " + "[" * (MAX_DEPTH + 5) + "]" * (MAX_DEPTH + 5) + "\n"
    with pytest.raises(SpecError, match=f"nests deeper than {MAX_DEPTH} levels"):
        load_spec_text(text)
    deep = HEAD + "tags: " + "[" * 200_000 + "]" * 200_000 + "\n"  # far past the stack
    with pytest.raises(SpecError, match="nests deeper"):
        load_spec_text(deep)


def test_a_collection_larger_than_the_limit_is_refused():
    users = "".join(f"    u{i}: {{}}\n" for i in range(MAX_COLLECTION + 1))
    with pytest.raises(SpecError) as info:
        load_spec_text(HEAD + "iam:\n  users:\n" + users)
    assert str(info.value) == (f"<spec>:5: iam.users: a mapping may have at most "
                               f"{MAX_COLLECTION:,} entries")


def test_too_many_values_are_refused_while_composing(monkeypatch):
    from envkit import limits

    # The real limit needs a ~600 KB document (16 s of pure-Python composing): the same
    # counting is exercised at a tenth of a percent of it.
    assert MAX_NODES * 2 < MAX_SPEC_BYTES  # a document at the size limit can exceed it
    monkeypatch.setattr(limits, "MAX_NODES", 250)
    values = "[" + "1," * 50 + "1]"  # lists well under the collection limit
    text = HEAD + "tags: {" + ", ".join(f"k{i}: {values}" for i in range(6)) + "}\n"
    with pytest.raises(SpecError, match="more than 250 values") as info:
        load_spec_text(text)
    assert "once its aliases" not in str(info.value)  # the composer stopped it, not expansion


def test_a_spec_larger_than_the_limit_is_refused_before_reading(tmp_path):
    big = tmp_path / "big.yaml"
    big.write_text(HEAD + "# " + "x" * MAX_SPEC_BYTES + "\n")
    done = envkit_limited("validate", str(big))
    assert done.returncode == 2
    assert f"{big}: is {big.stat().st_size:,} bytes; a spec may be at most 1 MiB" in done.stderr
    with pytest.raises(SpecError, match="larger than 1 MiB"):
        load_spec_text(big.read_text())  # text given on purpose has the same limit


def test_a_fifo_as_the_spec_is_refused_at_once(tmp_path):
    fifo = tmp_path / "spec.yaml"
    os.mkfifo(fifo)  # no writer: opening it to read in the usual way blocks forever
    done = subprocess.run([sys.executable, "-m", "envkit.cli", "plan", str(fifo)],
                          capture_output=True, text=True, timeout=60)
    assert done.returncode == 2
    assert f"{fifo}: is a FIFO (named pipe), not a regular file" in done.stderr


@pytest.mark.parametrize("path", ["/dev/zero", "/dev/urandom", "."])
def test_devices_and_folders_are_refused(path):
    done = envkit_limited("validate", path)
    assert done.returncode == 2
    assert "not a regular file: a spec is read only from a file" in done.stderr


def test_a_spec_that_is_not_utf8_names_its_line(tmp_path):
    bad = tmp_path / "latin1.yaml"
    bad.write_bytes(HEAD.encode() + "tags: {city: M\xfcnchen}\n".encode("latin-1"))
    with pytest.raises(SpecError, match=r"latin1.yaml:3: is not UTF-8 text"):
        load_spec(bad)


def test_messages_quote_a_cut_value_not_the_input(tmp_path):
    huge = "a" * 500_000
    cases = {
        f"region: {huge}\n": "region",
        f"ttl: {huge}\n": "ttl",
        f"iam:\n  users:\n    ? {huge}\n    : {{}}\n": "iam.users",
        f"iam: {{groups: {{g: {{managed_policies: [{huge}]}}}}}}\n": "managed_policies",
        f"ec2: {{instances: {{vm: {{type: {huge}}}}}}}\n": "ec2.instances.vm.type",
        f"? {huge}\n: 1\n": "unknown key",
    }
    for body, where in cases.items():
        with pytest.raises(SpecError) as info:
            load_spec_text(HEAD + body)
        message = str(info.value)
        assert where in message and len(message) < 2000, message[:300]


def test_a_policy_config_is_read_within_the_same_limits(tmp_path):
    from envkit.policy.gate import load_config

    fifo = tmp_path / "config.json"
    os.mkfifo(fifo)
    with pytest.raises(SpecError, match="not a regular file"):
        load_config(fifo)
    deep = tmp_path / "deep.json"
    deep.write_text('{"all": ' + "[" * 100_000 + "]" * 100_000 + "}")
    with pytest.raises(SpecError, match="nests deeper"):
        load_config(deep)
    big = tmp_path / "big.json"
    big.write_text(json.dumps({"all": "advisory", "pad": "x" * MAX_SPEC_BYTES}))
    with pytest.raises(SpecError, match="at most 1 MiB"):
        load_config(big)


def test_a_cell_is_loaded_within_the_same_limits():
    from envkit.notebook.magics import EnvkitMagics

    with pytest.raises(SpecError, match=r"<cell>:\d+: the spec holds more than"):
        EnvkitMagics._register("", BOMBS["condition"])
    with pytest.raises(SpecError, match="larger than 1 MiB"):
        EnvkitMagics._register("", HEAD + "# " + "x" * MAX_SPEC_BYTES)


def test_clip_cuts_before_rendering_and_escapes_control_characters():
    bomb: list = ["x"]
    for _ in range(40):  # 2^40 leaves if it were rendered in full
        bomb = [bomb, bomb]
    assert len(clip(bomb)) <= 60
    assert clip(10 ** 5000) == "a 16610-bit number"
    assert clip("red\x1b[31m\nnext") == "red\\x1b[31m\\nnext"
    assert printable("a\u202eb\tc\nd") == "a\\u202eb\tc\nd"


def test_the_loader_benchmark_specs_are_legitimate():
    sys.path.insert(0, str(ROOT / "bench"))
    try:
        from loader import aliased_spec, large_spec
    finally:
        sys.path.remove(str(ROOT / "bench"))
    text = large_spec(MAX_SPEC_BYTES)
    assert MAX_SPEC_BYTES - 50_000 < len(text.encode()) <= MAX_SPEC_BYTES
    assert load_spec(aliased_spec()).iam.users["student4999"].console


def test_the_reference_lab_is_far_inside_every_limit():
    spec = load_spec(BASICS)
    assert spec.name == "aws-basics"
    assert BASICS.stat().st_size < MAX_SPEC_BYTES // 100


def test_reused_anchor_names_print_nothing(tmp_path):
    spec = tmp_path / "anchors.yaml"
    spec.write_text(HEAD + "ec2:\n  key_pairs:\n"
                    + "".join(f"    k{i}: &a {{type: rsa}}\n" for i in range(500))
                    + "    last: *a\n")
    done = envkit_limited("validate", str(spec))
    assert done.returncode == 0, done.stderr
    assert done.stderr == "" and done.stdout.count("\n") == 1


@pytest.mark.parametrize("where", ["index_html", "tag", "condition key", "resource"])
def test_a_lone_surrogate_is_not_text(where):
    value = '"x\\ud800"'
    docs = {
        "index_html": f"ec2: {{instances: {{vm: {{user_data: {{template: web-server, "
                      f"index_html: {value}}}}}}}}}",
        "tag": f"ec2: {{instances: {{vm: {{tags: {{a: {value}}}}}}}}}",
        "condition key": "iam: {groups: {g: {inline_policies: {p: {Statement: [{Effect: "
                         "Allow, Action: s3:GetObject, Resource: '*', Condition: "
                         f"{{StringEquals: {{{value}: v}}}}}}]}}}}}}}}}}",
        "resource": "iam: {groups: {g: {inline_policies: {p: {Statement: [{Effect: Allow, "
                    f"Action: s3:GetObject, Resource: {value}}}]}}}}}}}}}}",
    }
    with pytest.raises(SpecError, match=r"<spec>:3: '\\ud800' \(a lone UTF-16 surrogate\)"):
        load_spec_text(HEAD + docs[where] + "\n")
