#!/bin/bash
# envkit built-in user data: install, enable and start httpd with an index page.
set -euo pipefail
if command -v dnf >/dev/null 2>&1; then dnf install -y httpd; else yum install -y httpd; fi
systemctl enable --now httpd
TOKEN=$(curl -sS -X PUT http://169.254.169.254/latest/api/token \
  -H "X-aws-ec2-metadata-token-ttl-seconds: 300")
INSTANCE_ID=$(curl -sS -H "X-aws-ec2-metadata-token: $TOKEN" \
  http://169.254.169.254/latest/meta-data/instance-id)
cat > /var/www/html/index.html <<'HTML'
__INDEX_HTML__
HTML
sed -i "s/__INSTANCE_ID__/$INSTANCE_ID/g" /var/www/html/index.html
