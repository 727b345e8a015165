"""trivy AVD-AWS-0345: fail there.
envkit rule iam-no-service-wildcard: fail.

Translated from aquasecurity/trivy-checks@80e5382 (Apache-2.0)
checks/cloud/aws/iam/limit_s3_full_access.yaml
"""

import json

import pulumi_aws as aws

# expected: iam-no-service-wildcard reports this resource
aws.iam.GroupPolicy(
    "s3-everything",
    group="developers",
    policy=json.dumps(
        {
            "Version": "2012-10-17",
            "Statement": [
                {"Effect": "Allow", "Action": "s3:*", "Resource": "arn:aws:s3:::examplebucket/*"}
            ],
        }
    ),
)
