"""The Pulumi program at the repo root: `pulumi up` here deploys the spec named by the
stack config `envkit:spec` (default labs/aws-basics.yaml), through the same
`envkit.program` that the Automation API and `envkit plan` use."""

from datetime import datetime

import pulumi

from envkit import program
from envkit.spec import load_spec

config = pulumi.Config("envkit")
spec = load_spec(config.get("spec") or "labs/aws-basics.yaml")
pinned = config.get("expires")
program(spec, expires_at=datetime.fromisoformat(pinned) if pinned else None)
