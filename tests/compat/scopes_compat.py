#!/usr/bin/env python3
"""Scoped API keys with the real AWS CLI and boto3: a key limited to sending and reading
list `news`, as `example.com`. The full key (AWS_ACCESS_KEY_ID) sets things up; the
scoped one (SCOPED_ACCESS_KEY_ID, SCOPED_SECRET_ACCESS_KEY) is refused everything else
with AccessDeniedException.
"""
import json
import os
import subprocess

from ses_checks import AWS, ENDPOINT, check, client, done, expect_error

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
expect_error("AccessDeniedException", scoped.get_contact_list, status=403, ContactListName="offers")
expect_error("AccessDeniedException", scoped.create_contact, status=403, ContactListName="news", EmailAddress="bea@example.org")
expect_error("AccessDeniedException", scoped.delete_contact_list, status=403, ContactListName="news")
m = expect_error("AccessDeniedException", scoped.send_email, status=403, **simple("ceo@bank.example"))
check("bank.example" in m, m)
expect_error("AccessDeniedException", scoped.send_email, status=403, **simple("news@example.com", "offers"))
expect_error("AccessDeniedException", scoped.put_suppressed_destination, status=403, EmailAddress="x@example.org", Reason="BOUNCE")
expect_error("AccessDeniedException", scoped.create_email_template, status=403, TemplateName="T",
             TemplateContent={"Subject": "s", "Text": "t"})
expect_error("AccessDeniedException", scoped.create_import_job, status=403,
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

done()
