"""The local target stays inside what the emulator implements.

tests/data/provider-actions.json lists every AWS API action the provider
(terraform-provider-aws v6, bridged by pulumi-aws) calls when it creates, reads, updates or
deletes the resources a lab uses, with the condition under which each is called (read from
internal/service/{iam,ec2}/*.go; the file and function are recorded per action). Here each
action is checked against the installed moto with moto's own dispatch rule
(moto/core/responses.py ``BaseResponse.call_action``: the snake_case method on the service's
response class, else NotImplementedError), stubs are confirmed by calling them through
moto, and every gap must be one envkit keeps off the local target's path, which the plan
for the local target then proves.
"""

from __future__ import annotations

import inspect
import json
from pathlib import Path

import pytest

from envkit.planner import run_mocked
from envkit.spec import load_spec
from envkit.stack_program import program

from .conftest import minimal

ACTIONS = json.loads((Path(__file__).parent / "data" / "provider-actions.json").read_text())

#: Actions moto does not implement, and why a lab on the local target never calls them.
KNOWN_GAPS = {
    "iam:ListServiceSpecificCredentials": "users are not force_destroy on the local target",
    "iam:DeleteServiceSpecificCredential": "users are not force_destroy on the local target",
    "ec2:MonitorInstances": "detailed monitoring is off on the local target",
    "ec2:UnmonitorInstances": "detailed monitoring is never switched on, so never off",
    "iam:PutUserPermissionsBoundary": "envkit sets no user permissions boundary",
    "iam:DeleteUserPermissionsBoundary": "envkit sets no user permissions boundary",
    "ec2:ModifyInstanceCreditSpecification": "envkit sets no credit specification",
    "ec2:ModifyInstanceMaintenanceOptions": "envkit sets no maintenance options",
    "ec2:ModifyPrivateDnsNameOptions": "envkit sets no private DNS name options",
    "ec2:ModifyInstanceCapacityReservationAttributes": "envkit sets no capacity reservation",
    "ec2:EnableVgwRoutePropagation": "envkit's route tables propagate no VPN gateways",
    "ec2:DisableVgwRoutePropagation": "envkit's route tables propagate no VPN gateways",
    "ec2:GetIpamPoolAllocations": "envkit's VPCs use no IPAM pool",
    # A class's budget is made on AWS only (envkit/classroom/aws_lease.py: no budget on the
    # local target), so none of these is on the local path.
    **{f"budgets:{op}": "a class's budget is not made on the local target" for op in (
        "DescribeSubscribersForNotification", "UpdateBudget", "ListTagsForResource",
        "CreateBudgetAction", "DescribeBudgetAction", "UpdateBudgetAction",
        "DeleteBudgetAction")},
}


def _moto_gaps() -> set[str]:
    import botocore.config
    import botocore.session
    from moto import mock_aws
    from moto.budgets.responses import BudgetsResponse
    from moto.core.utils import camelcase_to_underscores, method_names_from_class
    from moto.ec2.responses import EC2Response
    from moto.iam.responses import IamResponse
    from moto.scheduler.responses import EventBridgeSchedulerResponse
    from moto.sts.responses import TokenResponse

    classes = {"iam": IamResponse, "ec2": EC2Response, "sts": TokenResponse,
               "scheduler": EventBridgeSchedulerResponse, "budgets": BudgetsResponse}
    methods = {service: set(method_names_from_class(cls)) for service, cls in classes.items()}
    actions = sorted({a["action"] for entries in ACTIONS["resources"].values()
                      for a in entries})
    gaps, stubs = set(), []
    for action in actions:
        service, operation = action.split(":")
        name = camelcase_to_underscores(operation)
        if name not in methods[service]:
            gaps.add(action)
        elif "NotImplementedError" in inspect.getsource(getattr(classes[service], name)):
            stubs.append(action)
    # A method that raises NotImplementedError may still serve most calls: ask moto.
    config = botocore.config.Config(parameter_validation=False,
                                    retries={"total_max_attempts": 1})
    with mock_aws():
        session = botocore.session.get_session()
        for action in stubs:
            service, operation = action.split(":")
            client = session.create_client(service, region_name="us-east-1", config=config)
            try:
                client._make_api_call(operation, {})
            except NotImplementedError:
                gaps.add(action)
            except Exception:  # noqa: BLE001 - any other answer means it is served
                pass
    return gaps


def test_every_action_moto_lacks_is_one_envkit_keeps_off_the_local_path(monkeypatch):
    monkeypatch.setenv("AWS_ACCESS_KEY_ID", "test")  # moto's in-process mock signs nothing
    monkeypatch.setenv("AWS_SECRET_ACCESS_KEY", "test")
    assert _moto_gaps() == set(KNOWN_GAPS)


def _plan_inputs(spec, target: str) -> list:
    spec = load_spec(spec)
    records, _ = run_mocked(spec.name, spec.region, spec.availability_zone,
                            lambda: program(spec, target=target))
    return records


LAB = minimal(
    iam={"groups": {"devs": {"managed_policies": ["ReadOnlyAccess"]}},
         "users": {"ann": {"groups": ["devs"], "console": True, "access_key": True}}},
    ec2={"network": {"vpc_cidr": "10.30.0.0/16", "availability_zone": "us-east-1a"},
         "key_pairs": {"k": {}},
         "security_groups": {"web": {"ingress": [{"service": "http", "from": "0.0.0.0/0"}]}},
         "instances": {"web": {"ami": "ami-760aaa0f", "type": "t2.micro", "key_pair": "k",
                               "security_groups": ["web"], "monitoring": True,
                               "purchase": "spot"}}})


@pytest.mark.parametrize("target", ["local", "aws"])
def test_the_local_plan_sets_nothing_that_would_call_a_gap(target):
    records = _plan_inputs(LAB, target)
    local = target == "local"
    user = next(r for r in records if r.type == "aws:iam/user:User")
    instance = next(r for r in records if r.type == "aws:ec2/instance:Instance")
    # force_destroy makes deletion call ListServiceSpecificCredentials; on AWS it is wanted
    # (it removes MFA devices a student added by hand).
    assert user.inputs["forceDestroy"] is (not local)
    assert instance.inputs["monitoring"] is (not local)
    assert ("instanceMarketOptions" in instance.inputs) is (not local)
    assert "permissionsBoundary" not in user.inputs
    for never in ("creditSpecification", "maintenanceOptions", "privateDnsNameOptions",
                  "capacityReservationSpecification"):
        assert never not in instance.inputs
    for r in records:
        assert "propagatingVgws" not in r.inputs and "ipv4IpamPoolId" not in r.inputs
