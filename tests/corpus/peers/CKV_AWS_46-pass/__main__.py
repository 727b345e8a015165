"""Checkov CKV_AWS_46: pass there.
envkit rule no-secrets-in-user-data-or-tags: pass.

Translated from bridgecrewio/checkov@03d5fda (Apache-2.0)
tests/terraform/checks/resource/aws/example_EC2Credentials/main.tf
"""

import base64

import pulumi_aws as aws

script = "#!/bin/bash\ndnf install -y httpd\n"
aws.ec2.LaunchTemplate(
    "clean-user-data",
    image_id="ami-0123456789abcdef0",
    user_data=base64.b64encode(script.encode()).decode(),
)
