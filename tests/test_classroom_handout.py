"""Handouts, rendered by a pure function over student stacks' outputs (of the shape the
program really exports: deployed here by the stand-ins that run it under Pulumi's mocks, and
passed through the JSON `pulumi stack output --json --show-secrets` prints), written into a
private folder; and the notebook's roster widget with its per-student reveal."""

from __future__ import annotations

import csv
import io
import json
import os
import stat

import pytest

from envkit import Classroom
from envkit.classroom.handout import CSV_HEADER, render_handouts, write_handouts
from envkit.errors import InputError
from envkit.spec.classroom import Student
from envkit.targets import Target

from . import classroom_fakes
from .conftest import LABS

CLASS = LABS / "classroom.yaml"
AWS = Target("aws", "us-east-1", "test")


@pytest.fixture
def deployed(monkeypatch):
    engine = classroom_fakes.install(monkeypatch)
    classroom = Classroom(CLASS, target=AWS)
    classroom.up()
    # What `pulumi stack output --json --show-secrets` prints, read back as the Automation
    # API does (json.loads of the CLI's output).
    outputs = {s.id: json.loads(json.dumps({
        k: v.value for k, v in engine.states[f"web-class-{s.id}"]["outputs"].items()}))
        for s in classroom.selected}
    return classroom, outputs


def test_rendering_is_a_pure_function_of_the_outputs(deployed, capsys):
    classroom, outputs = deployed
    handouts = render_handouts("web-class", classroom.selected, outputs)
    assert capsys.readouterr() == ("", "")  # nothing printed
    assert render_handouts("web-class", classroom.selected, outputs) == handouts
    rows = list(csv.reader(io.StringIO(handouts.csv)))
    assert rows[0] == CSV_HEADER == ["User name", "Password", "Console sign-in URL"]
    assert [r[0] for r in rows[1:]] == ["ann", "bob", "chen", "dana", "emil"]
    assert all(r[1] == outputs[r[0]]["passwords"][r[0]] for r in rows[1:])
    assert {r[2] for r in rows[1:]} == {"https://web-class-lab.signin.aws.amazon.com/console"}
    assert handouts.csv.endswith("\r\n")  # the console's download uses CRLF, as CSV does


def test_each_page_has_what_a_student_needs_to_start(deployed):
    classroom, outputs = deployed
    handouts = render_handouts("web-class", classroom.selected, outputs)
    ann = outputs["ann"]
    web = ann["instances"]["web"]
    page = handouts.pages["ann"]
    assert page.splitlines()[0] == "# web-class: ann"
    assert "- **Sign-in URL:** https://web-class-lab.signin.aws.amazon.com/console" in page
    assert "- **User name:** `ann`" in page
    assert f"- **One-time password:** `{ann['passwords']['ann']}` (you must choose a new " \
           "password when you first sign in)" in page
    assert "virtual MFA device named exactly `ann`" in page
    assert "- **Private key:** `ann-lab.pem`" in page
    assert f"- **SSH:** `ssh -i ann-lab.pem ec2-user@{web['public_ip']}`" in page
    assert f"- **Web:** {web['web_url']}" in page
    assert f"Your lease ends at {ann['expires']} (UTC)" in page
    assert handouts.keys["ann"] == {"ann-lab.pem": ann["private_keys"]["lab"]
                                    if ann["private_keys"]["lab"].endswith("\n")
                                    else ann["private_keys"]["lab"] + "\n"}
    assert outputs["bob"]["passwords"]["bob"] not in page  # only ann's own details


def test_a_student_without_console_access_gets_no_csv_row():
    outputs = {"users": {"ann": {"name": "ann", "arn": "arn:aws:iam::123456789012:user/envkit/ann",
                                 "console": False, "groups": []}},
               "passwords": {}, "instances": {}, "private_keys": {}}
    handouts = render_handouts("lab", [Student("ann")], {"ann": outputs})
    assert handouts.csv == "User name,Password,Console sign-in URL\r\n"
    assert "no console sign-in" in handouts.pages["ann"]
    assert "https://123456789012.signin.aws.amazon.com/console" in handouts.pages["ann"]


def test_written_into_a_private_folder_with_private_files(deployed, tmp_path):
    classroom, outputs = deployed
    folder = tmp_path / "new" / "out"
    written = write_handouts(render_handouts("web-class", classroom.selected, outputs), folder)
    assert stat.S_IMODE(folder.stat().st_mode) == 0o700  # created private
    assert stat.S_IMODE(written.csv.stat().st_mode) == 0o600
    for sid in outputs:
        assert stat.S_IMODE(written.pages[sid].stat().st_mode) == 0o600
        assert [stat.S_IMODE(k.stat().st_mode) for k in written.keys[sid]] == [0o400]
    assert not [p for p in folder.rglob(".handout-*")]  # no temporary file left


def test_never_written_through_a_symlink(deployed, tmp_path):
    classroom, outputs = deployed
    handouts = render_handouts("web-class", classroom.selected, outputs)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    link = tmp_path / "link"
    link.symlink_to(elsewhere)
    with pytest.raises(InputError, match="is a symbolic link"):
        write_handouts(handouts, link)
    assert not list(elsewhere.iterdir())
    folder = tmp_path / "out"
    folder.mkdir(mode=0o700)
    (folder / "ann").mkdir(mode=0o700)
    victim = tmp_path / "victim.txt"
    victim.write_text("keep me")
    (folder / "ann" / "ann-lab.pem").symlink_to(victim)
    write_handouts(handouts, folder)
    assert victim.read_text() == "keep me"  # the link was replaced, not followed
    key = folder / "ann" / "ann-lab.pem"
    assert not key.is_symlink() and stat.S_IMODE(os.lstat(key).st_mode) == 0o400


# --- the roster widget ----------------------------------------------------------------------


def test_roster_widget_shows_each_student_and_reveals_one_at_a_time(deployed):
    classroom, outputs = deployed
    widget = classroom.widget()
    assert list(widget.rows) == ["ann", "bob", "chen", "dana", "emil"]
    assert widget.rows["chen"]["who"].value == "<b>chen</b> (Chen Wei)"
    assert widget.rows["ann"]["state"].value == "deployed"
    assert widget.rows["ann"]["resources"].value == "10"
    password = outputs["ann"]["passwords"]["ann"]
    assert all(password not in r["details"].value for r in widget.rows.values())
    widget.rows["ann"]["reveal"].value = True
    assert password in widget.rows["ann"]["details"].value
    assert outputs["ann"]["instances"]["web"]["public_ip"] in widget.rows["ann"]["details"].value
    assert all(password not in widget.rows[s]["details"].value for s in ("bob", "chen"))
    assert outputs["bob"]["passwords"]["bob"] not in widget.rows["ann"]["details"].value
    widget.rows["ann"]["reveal"].value = False
    assert widget.rows["ann"]["details"].value == ""
    text = repr(widget)
    assert "Roster of web-class: 5 students" in text and password not in text
    bundle = widget._repr_mimebundle_()
    assert "application/vnd.jupyter.widget-view+json" in bundle
    assert bundle["text/plain"] == text


def test_roster_widget_before_deployment_reveals_nothing(monkeypatch):
    classroom_fakes.install(monkeypatch)
    widget = Classroom(CLASS, target=AWS).widget()
    assert [c.value for c in widget.column_header.children] == [
        "<b>student</b>", "<b>state</b>", "<b>resources</b>", "<b>lease ends</b>",
        "<b>sign-in details</b>"]
    assert widget.widget.children[2] is widget.column_header  # above the students' rows
    assert widget.rows["dana"]["state"].value == "not deployed"
    widget.rows["dana"]["reveal"].value = True
    assert "dana is not deployed yet" in widget.rows["dana"]["details"].value
