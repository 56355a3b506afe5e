#!/usr/bin/env python3
"""SES v2 SendEmail against a running optbox with the real AWS CLI and boto3.

Environment as sesv2_compat.py (OPTBOX_ENDPOINT, AWS_* credentials, AWS_CLI). Needs a
list "news" with topic "weekly" (OPT_IN) and a contact out@example.org opted out of it;
the Rust test sets them up. Prints one JSON line per accepted send
({"via": ..., "MessageId": ...}) and "N checks passed".
"""
import base64
import json
import os
import subprocess
import sys

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ENDPOINT = os.environ["OPTBOX_ENDPOINT"]
AWS = os.environ.get("AWS_CLI", "aws")
CHECKS = 0


def check(cond, what):
    global CHECKS
    CHECKS += 1
    if not cond:
        print(f"FAIL: {what}", file=sys.stderr)
        sys.exit(1)


def cli(*args):
    p = subprocess.run(
        [AWS, "sesv2", *args, "--endpoint-url", ENDPOINT, "--output", "json"],
        capture_output=True,
        text=True,
    )
    return p


ses = boto3.client("sesv2", endpoint_url=ENDPOINT, config=Config(retries={"max_attempts": 1}))


def expect(code, **kw):
    try:
        ses.send_email(**kw)
    except ClientError as e:
        check(e.response["Error"]["Code"] == code, f"{code} expected, got {e.response['Error']}")
        return e.response["Error"]["Message"]
    check(False, f"send_email should fail with {code}")


simple = {"Simple": {"Subject": {"Data": "Hi"}, "Body": {"Text": {"Data": "Bye: {{amazonSESUnsubscribeUrl}}"}}}}

# The AWS CLI, exactly as the product promises.
p = cli(
    "send-email",
    "--from-email-address", "news@example.com",
    "--destination", "ToAddresses=ann@example.org",
    "--content", json.dumps(simple),
    "--list-management-options", "ContactListName=news,TopicName=weekly",
)
check(p.returncode == 0, f"aws sesv2 send-email: {p.stderr}")
mid = json.loads(p.stdout)["MessageId"]
check(mid, "MessageId is returned")
print(json.dumps({"via": "cli", "MessageId": mid}))

# Opted out: MessageRejected naming the reason, through the CLI as well.
p = cli(
    "send-email",
    "--from-email-address", "news@example.com",
    "--destination", "ToAddresses=out@example.org",
    "--content", json.dumps(simple),
    "--list-management-options", "ContactListName=news,TopicName=weekly",
)
check(p.returncode != 0 and "MessageRejected" in p.stderr and "unsubscribed" in p.stderr, f"cli reject: {p.stderr}")

# boto3: Raw, Template, errors.
raw = (
    "From: news@example.com\r\nTo: bea@example.org\r\nSubject: raw\r\n"
    "X-SES-LIST-MANAGEMENT-OPTIONS: news; topic=weekly\r\n\r\nLink {{amazonSESUnsubscribeUrl}}\r\n"
).encode()
r = ses.send_email(Content={"Raw": {"Data": raw}})
check(r["MessageId"], "Raw send answers a MessageId")
print(json.dumps({"via": "raw", "MessageId": r["MessageId"]}))
try:
    ses.create_configuration_set(ConfigurationSetName="default")
except ses.exceptions.AlreadyExistsException:
    pass
r = ses.send_email(
    FromEmailAddress="News <news@example.com>",
    Destination={"ToAddresses": ["cem@example.org"]},
    ReplyToAddresses=["reply@example.com"],
    EmailTags=[{"Name": "campaign", "Value": "nov-2026"}],
    ConfigurationSetName="default",
    Content={
        "Template": {
            "TemplateContent": {
                "Subject": "Hello {{name}}",
                "Text": "Hi {{name}}, leave: {{amazonSESUnsubscribeUrl}}",
                "Html": "<p>Hi {{name}}</p><a href=\"{{amazonSESUnsubscribeUrl}}\">leave</a>",
            },
            "TemplateData": json.dumps({"name": "Cem"}),
        }
    },
    ListManagementOptions={"ContactListName": "news"},
)
check(r["MessageId"], "Template send answers a MessageId")
print(json.dumps({"via": "template", "MessageId": r["MessageId"]}))

m = expect("NotFoundException", FromEmailAddress="news@example.com", Destination={"ToAddresses": ["a@example.org"]},
           Content=simple, ListManagementOptions={"ContactListName": "nope"})
check("nope" in m, m)
m = expect("BadRequestException", FromEmailAddress="news@example.com", Destination={"ToAddresses": ["a@example.org"]},
           Content=simple, ListManagementOptions={"ContactListName": "news", "TopicName": "zzz"})
check("zzz" in m, m)
m = expect("MessageRejected", FromEmailAddress="news@example.com", Destination={"ToAddresses": ["out@example.org"]},
           Content=simple, ListManagementOptions={"ContactListName": "news", "TopicName": "weekly"})
check("out@example.org" in m, m)
expect("BadRequestException", FromEmailAddress="news@example.com", Destination={"ToAddresses": ["a@example.org"]},
       Content={"Simple": {"Subject": {"Data": "x"}, "Body": {"Text": {"Data": "x"}}, "Headers": [{"Name": "From", "Value": "x@y"}]}})
print(f"{CHECKS} checks passed")
