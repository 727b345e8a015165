"""Load the policy rules, and what they load on first use, while a program runs.

The gate's parent process only waits while the program runs in its child; importing the
rules and their first evaluation (the SDK classes they read, the IAM action data) cost
about as much as the program's own start, so they happen then, on a thread.
"""

from __future__ import annotations

import contextlib
import json


def warm_rules() -> None:
    """Load the rules and what they load on first use (the SDK classes they read, the IAM
    action data) by checking a few made-up resources; the findings are thrown away."""
    urn = "urn:pulumi:warm::warm::{}::{}"
    document = json.dumps({"Version": "2012-10-17", "Statement": [
        {"Effect": "Allow", "Action": ["s3:*", "iam:PassRole"], "Resource": "*"}]})
    made_up = [("aws:iam/role:Role", {"assumeRolePolicy": document}),
               ("aws:iam/policy:Policy", {"policy": document}),
               ("aws:ec2/securityGroup:SecurityGroup", {"ingress": [
                   {"protocol": "tcp", "fromPort": 22, "toPort": 22,
                    "cidrBlocks": ["0.0.0.0/0"]}]}),
               ("aws:ec2/instance:Instance", {"instanceType": "t3.micro"})]
    from .gate import DeclaredResource, evaluate

    with contextlib.suppress(Exception):  # warming only: a failure here changes nothing
        evaluate([DeclaredResource(type=t, name=f"warm{i}", urn=urn.format(t, f"warm{i}"),
                                   parent=None, custom=True, dependencies=[], wire_inputs=inputs)
                  for i, (t, inputs) in enumerate(made_up)])
