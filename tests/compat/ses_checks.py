"""What the SES compatibility scripts share: a check counter, boto3 clients for the
optbox under test, error expectations and the AWS CLI.

Environment: OPTBOX_ENDPOINT, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY,
AWS_DEFAULT_REGION; AWS_CLI (path of the `aws` program).
"""
import json
import os
import subprocess
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["OPTBOX_ENDPOINT"]
REGION = os.environ.get("AWS_DEFAULT_REGION", "us-east-1")
AWS = os.environ.get("AWS_CLI", "aws")
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)


def client(key=None, secret=None):
    return boto3.client("sesv2", endpoint_url=ENDPOINT, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}))


def expect_error(code, fn, status=None, **kwargs):
    """Calls fn and returns the message of the SES error `code` it must fail with."""
    try:
        fn(**kwargs)
    except ClientError as e:
        err = e.response["Error"]
        check(err["Code"] == code, f"{fn.__name__}: code {err['Code']!r} != {code!r} ({err})")
        if status is not None:
            got = e.response["ResponseMetadata"]["HTTPStatusCode"]
            check(got == status, f"{fn.__name__}: status {got} != {status}")
        return err["Message"]
    check(False, f"{fn.__name__} should have failed with {code}")


def cli(*args, env=None):
    """`aws sesv2 ARGS` against optbox; its JSON answer (it must succeed)."""
    p = subprocess.run([AWS, "sesv2", *args, "--endpoint-url", ENDPOINT, "--output", "json"],
                       capture_output=True, text=True, timeout=60, env=env)
    check(p.returncode == 0, f"aws sesv2 {' '.join(args)} failed: {p.stderr}")
    return json.loads(p.stdout) if p.stdout.strip() else {}


def done():
    print(f"{CHECKS} checks passed")
