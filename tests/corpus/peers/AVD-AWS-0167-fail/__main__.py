"""trivy AVD-AWS-0167: fail there.
envkit rule iam-one-active-access-key-per-user: fail.

Translated from aquasecurity/trivy-checks@80e5382 (Apache-2.0)
checks/cloud/aws/iam/limit_user_access_keys_test.rego
"""

import pulumi_aws as aws

user = aws.iam.User("ci", name="ci")
aws.iam.AccessKey("ci-key-1", user=user.name)
# expected: iam-one-active-access-key-per-user reports this resource
aws.iam.AccessKey("ci-key-2", user=user.name)
