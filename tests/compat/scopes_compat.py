#!/usr/bin/env python3
"""Scoped API keys with the real AWS CLI and boto3: a key limited to sending and reading
list `news`, as `example.com`. The full key (AWS_ACCESS_KEY_ID) sets things up; the
scoped one (SCOPED_ACCESS_KEY_ID, SCOPED_SECRET_ACCESS_KEY) is refused everything else
with AccessDeniedException.
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


def expect_error(code, fn, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        err = e.response["Error"]
        check(err["Code"] == code, f"{fn.__name__}: code {err['Code']!r} != {code!r} ({err})")
        check(e.response["ResponseMetadata"]["HTTPStatusCode"] == 403, f"{fn.__name__}: status")
        return err["Message"]
    check(False, f"{fn.__name__} should have failed with {code}")


def client(key, secret):
    return boto3.client("sesv2", endpoint_url=ENDPOINT, region_name=REGION,
                        aws_access_key_id=key, aws_secret_access_key=secret,
                        config=Config(retries={"max_attempts": 1}))


full = client(os.environ["AWS_ACCESS_KEY_ID"], os.environ["AWS_SECRET_ACCESS_KEY"])
scoped = client(os.environ["SCOPED_ACCESS_KEY_ID"], os.environ["SCOPED_SECRET_ACCESS_KEY"])
full.create_contact_list(ContactListName="news")
full.create_contact_list(ContactListName="offers")
full.create_contact(ContactListName="news", EmailAddress="ann@example.org")


def simple(sender, lst=None):
    kw = dict(FromEmailAddress=sender, Destination={"ToAddresses": ["ann@example.org"]},
              Content={"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "x"}}}})
    if lst:
        kw["ListManagementOptions"] = {"ContactListName": lst}
    return kw


# What it may do.
check(scoped.get_contact(ContactListName="news", EmailAddress="ann@example.org")["EmailAddress"] == "ann@example.org", "read news")
names = [l["ContactListName"] for l in scoped.list_contact_lists()["ContactLists"]]
check(names == ["news"], f"a list-limited key sees its lists only: {names}")
check(scoped.send_email(**simple("news@example.com", "news"))["MessageId"], "send to news as example.com")
# What it may not.
expect_error("AccessDeniedException", scoped.get_contact_list, ContactListName="offers")
expect_error("AccessDeniedException", scoped.create_contact, ContactListName="news", EmailAddress="bea@example.org")
expect_error("AccessDeniedException", scoped.delete_contact_list, ContactListName="news")
m = expect_error("AccessDeniedException", scoped.send_email, **simple("ceo@bank.example"))
check("bank.example" in m, m)
expect_error("AccessDeniedException", scoped.send_email, **simple("news@example.com", "offers"))
expect_error("AccessDeniedException", scoped.put_suppressed_destination, EmailAddress="x@example.org", Reason="BOUNCE")
expect_error("AccessDeniedException", scoped.create_email_template, TemplateName="T",
             TemplateContent={"Subject": "s", "Text": "t"})
expect_error("AccessDeniedException", scoped.create_import_job,
             ImportDestination={"ContactListDestination": {"ContactListName": "news", "ContactListImportAction": "PUT"}},
             ImportDataSource={"S3Url": "s3://b/k.csv", "DataFormat": "CSV"})
# The AWS CLI with the scoped key.
env = dict(os.environ, AWS_ACCESS_KEY_ID=os.environ["SCOPED_ACCESS_KEY_ID"],
           AWS_SECRET_ACCESS_KEY=os.environ["SCOPED_SECRET_ACCESS_KEY"])
p = subprocess.run([AWS, "sesv2", "get-contact-list", "--contact-list-name", "offers", "--endpoint-url", ENDPOINT],
                   capture_output=True, text=True, env=env, timeout=60)
check(p.returncode != 0 and "AccessDeniedException" in p.stderr, p.stderr)
p = subprocess.run([AWS, "sesv2", "get-contact-list", "--contact-list-name", "news", "--endpoint-url", ENDPOINT,
                    "--output", "json"], capture_output=True, text=True, env=env, timeout=60)
check(p.returncode == 0 and json.loads(p.stdout)["ContactListName"] == "news", p.stderr)

print(f"{CHECKS} checks passed")
