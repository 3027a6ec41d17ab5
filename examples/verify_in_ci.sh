#!/usr/bin/env bash
# Fail a CI job when the model code drifts from the report; keep the findings as JSON.
set -euo pipefail
captcha verify --json > verify-report.json || { captcha verify; exit 1; }
echo "all $(python3 -c 'import json; print(json.load(open("verify-report.json"))["passed"])') checks passed"
