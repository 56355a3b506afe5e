#!/usr/bin/env python3
"""Drive a running optbox with the real AWS CLI and boto3 (SES v2 list management).

Environment: OPTBOX_ENDPOINT (http://127.0.0.1:PORT), AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION; AWS_CLI (path of the `aws` program).
`--strict` checks the SES limits of optbox's aws_strict mode instead.
Exits non-zero on the first failed check, printing what differed.
"""
import concurrent.futures
import json
import os
import subprocess
import sys

import boto3
import botocore
from botocore.auth import SigV4Auth
from botocore.awsrequest import AWSRequest
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


def client(**kw):
    return boto3.client(
        "sesv2",
        endpoint_url=ENDPOINT,
        region_name=REGION,
        config=Config(retries={"max_attempts": 1}),
        **kw,
    )


def expect_error(code, fn, *args, status=None, message=None, **kwargs):
    try:
        fn(*args, **kwargs)
    except ClientError as e:
        err = e.response["Error"]
        check(err["Code"] == code, f"{fn.__name__}: code {err['Code']!r} != {code!r} ({err})")
        if status is not None:
            got = e.response["ResponseMetadata"]["HTTPStatusCode"]
            check(got == status, f"{fn.__name__}: status {got} != {status}")
        if message is not None:
            check(err["Message"] == message, f"{fn.__name__}: message {err['Message']!r} != {message!r}")
        check(e.response["ResponseMetadata"].get("RequestId"), "error responses carry a RequestId")
        return e
    check(False, f"{fn.__name__} should have failed with {code}")


def boto3_suite():
    ses = client()
    # --- lists ---
    r = ses.create_contact_list(
        ContactListName="news",
        Description="Our newsletters",
        Topics=[
            {"TopicName": "weekly", "DisplayName": "Weekly digest", "Description": "Mondays",
             "DefaultSubscriptionStatus": "OPT_IN"},
            {"TopicName": "offers", "DisplayName": "Offers", "DefaultSubscriptionStatus": "OPT_OUT"},
        ],
        Tags=[{"Key": "team", "Value": "growth"}],
    )
    check(r["ResponseMetadata"]["HTTPStatusCode"] == 200, "create_contact_list 200")
    check(len(r["ResponseMetadata"]["RequestId"]) == 36, "x-amzn-RequestId reaches ResponseMetadata")
    lst = ses.get_contact_list(ContactListName="news")
    check(lst["ContactListName"] == "news", "get_contact_list name")
    check([t["TopicName"] for t in lst["Topics"]] == ["weekly", "offers"], "topics in order")
    check(lst["Topics"][0]["Description"] == "Mondays", "topic description")
    check(lst["Tags"] == [{"Key": "team", "Value": "growth"}], "tags")
    check(hasattr(lst["CreatedTimestamp"], "year"), "timestamps parse as datetimes")
    expect_error("AlreadyExistsException", ses.create_contact_list, ContactListName="news", status=400)
    ses.update_contact_list(
        ContactListName="news",
        Description="Updated",
        Topics=lst["Topics"] + [{"TopicName": "events", "DisplayName": "Events",
                                 "DefaultSubscriptionStatus": "OPT_OUT"}],
    )
    lst = ses.get_contact_list(ContactListName="news")
    check(lst["Description"] == "Updated" and len(lst["Topics"]) == 3, "update_contact_list")
    for n in ["zz-a", "zz-b"]:
        ses.create_contact_list(ContactListName=n)
    names, token = [], None
    while True:
        kw = {"PageSize": 1}
        if token:
            kw["NextToken"] = token
        page = ses.list_contact_lists(**kw)
        names += [x["ContactListName"] for x in page["ContactLists"]]
        token = page.get("NextToken")
        if not token:
            break
    check(names == ["news", "zz-a", "zz-b"], f"list_contact_lists pages: {names}")

    # --- contacts ---
    email = "ann+news@Example.com"
    ses.create_contact(
        ContactListName="news",
        EmailAddress=email,
        TopicPreferences=[{"TopicName": "offers", "SubscriptionStatus": "OPT_IN"}],
        AttributesData=json.dumps({"name": "Ann"}),
    )
    c = ses.get_contact(ContactListName="news", EmailAddress=email)
    check(c["EmailAddress"] == email, "get_contact with + and @")
    check(c["TopicPreferences"] == [{"TopicName": "offers", "SubscriptionStatus": "OPT_IN"}], "explicit prefs")
    check(sorted(p["TopicName"] for p in c["TopicDefaultPreferences"]) == ["events", "weekly"],
          f"TopicDefaultPreferences {c['TopicDefaultPreferences']}")
    check(json.loads(c["AttributesData"]) == {"name": "Ann"}, "AttributesData round trip")
    ses.update_contact(
        ContactListName="news",
        EmailAddress=email,
        TopicPreferences=[{"TopicName": "weekly", "SubscriptionStatus": "OPT_OUT"}],
    )
    c = ses.get_contact(ContactListName="news", EmailAddress=email)
    check({p["TopicName"]: p["SubscriptionStatus"] for p in c["TopicPreferences"]}
          == {"offers": "OPT_IN", "weekly": "OPT_OUT"}, "update_contact merges by topic")
    expect_error("AlreadyExistsException", ses.create_contact, ContactListName="news",
                 EmailAddress=email, message=f"{email} already exists in List.")
    expect_error("NotFoundException", ses.get_contact, ContactListName="news",
                 EmailAddress="nobody@example.com", status=404,
                 message="nobody@example.com doesn't exist in List.")
    expect_error("NotFoundException", ses.get_contact_list, ContactListName="nolist",
                 message="List with name: nolist doesn't exist.")
    expect_error("BadRequestException", ses.create_contact, ContactListName="news",
                 EmailAddress="x@example.com",
                 TopicPreferences=[{"TopicName": "nope", "SubscriptionStatus": "OPT_IN"}],
                 message="List: news doesn't contain Topic: nope")
    expect_error("BadRequestException", ses.create_contact, ContactListName="news",
                 EmailAddress="not-an-address", message="EmailAddress <not-an-address> is invalid")
    expect_error("BadRequestException", ses.create_contact_list, ContactListName="bad name",
                 message="ContactListName can contain up to 64 characters. Only alphanumeric characters, underscores(_) and hyphens(-) are allowed.")
    expect_error("BadRequestException", ses.create_contact_list, ContactListName="dup",
                 Topics=[{"TopicName": "t", "DisplayName": "T", "DefaultSubscriptionStatus": "OPT_IN"}] * 2,
                 message="Duplicate topic names are not allowed within a List.")
    # The modeled exception classes match.
    try:
        ses.get_contact_list(ContactListName="nolist")
        check(False, "expected NotFoundException")
    except ses.exceptions.NotFoundException:
        check(True, "client.exceptions.NotFoundException")

    # --- filters ---
    ses.create_contact(ContactListName="news", EmailAddress="out@example.com", UnsubscribeAll=True)
    ses.create_contact(ContactListName="news", EmailAddress="def@example.com")

    def filtered(**flt):
        return sorted(c["EmailAddress"] for c in
                      ses.list_contacts(ContactListName="news", Filter=flt)["Contacts"])

    check(filtered(FilteredStatus="OPT_IN",
                   TopicFilter={"TopicName": "weekly", "UseDefaultIfPreferenceUnavailable": True})
          == ["def@example.com"], "weekly OPT_IN with defaults")
    check(filtered(FilteredStatus="OPT_OUT",
                   TopicFilter={"TopicName": "weekly", "UseDefaultIfPreferenceUnavailable": False})
          == [email], "weekly explicit OPT_OUT")
    check(filtered(FilteredStatus="OPT_OUT") == ["out@example.com"], "FilteredStatus alone = UnsubscribeAll")

    # --- legacy ListContacts: GET with the Filter in the body, signed by botocore ---
    creds = boto3.Session().get_credentials()
    body = json.dumps({"Filter": {"FilteredStatus": "OPT_OUT"}})
    req = AWSRequest(method="GET", url=f"{ENDPOINT}/v2/email/contact-lists/news/contacts?PageSize=10",
                     data=body, headers={"Content-Type": "application/json"})
    SigV4Auth(creds, "ses", REGION).add_auth(req)
    prepared = req.prepare()
    import urllib.request
    http_req = urllib.request.Request(prepared.url, data=prepared.body.encode() if isinstance(prepared.body, str) else prepared.body,
                                      method="GET", headers=dict(prepared.headers.items()))
    with urllib.request.urlopen(http_req) as resp:
        legacy = json.loads(resp.read())
    check([c["EmailAddress"] for c in legacy["Contacts"]] == ["out@example.com"], f"legacy GET ListContacts {legacy}")

    # --- tags ---
    arn = f"arn:aws:ses:{REGION}:123456789012:contact-list/news"
    ses.tag_resource(ResourceArn=arn, Tags=[{"Key": "env", "Value": "prod"}])
    tags = ses.list_tags_for_resource(ResourceArn=arn)["Tags"]
    check({t["Key"] for t in tags} == {"team", "env"}, f"tag_resource {tags}")
    ses.untag_resource(ResourceArn=arn, TagKeys=["team"])
    check(ses.list_tags_for_resource(ResourceArn=arn)["Tags"] == [{"Key": "env", "Value": "prod"}], "untag_resource")

    # --- pagination over 2,500 contacts ---
    ses.create_contact_list(ContactListName="big", Topics=[
        {"TopicName": "t", "DisplayName": "T", "DefaultSubscriptionStatus": "OPT_IN"}])
    def add(i):
        c = client()
        c.create_contact(ContactListName="big", EmailAddress=f"user{i:05d}@example.com",
                         TopicPreferences=[{"TopicName": "t", "SubscriptionStatus": "OPT_OUT" if i % 5 == 0 else "OPT_IN"}])
    with concurrent.futures.ThreadPoolExecutor(8) as pool:
        list(pool.map(add, range(2500)))
    seen, token, pages = [], None, 0
    while True:
        kw = {"ContactListName": "big", "PageSize": 1000}
        if token:
            kw["NextToken"] = token
        page = ses.list_contacts(**kw)
        seen += [c["EmailAddress"] for c in page["Contacts"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    check(len(seen) == 2500 and len(set(seen)) == 2500 and pages == 3, f"2,500 contacts in 3 pages ({len(seen)}, {pages})")
    outs, token = 0, None
    while True:
        kw = {"ContactListName": "big", "PageSize": 100,
              "Filter": {"FilteredStatus": "OPT_OUT", "TopicFilter": {"TopicName": "t"}}}
        if token:
            kw["NextToken"] = token
        page = ses.list_contacts(**kw)
        outs += len(page["Contacts"])
        token = page.get("NextToken")
        if not token:
            break
    check(outs == 500, f"filtered paging finds 500 opted-out contacts, got {outs}")

    # --- delete ---
    ses.delete_contact(ContactListName="news", EmailAddress=email)
    expect_error("NotFoundException", ses.get_contact, ContactListName="news", EmailAddress=email)
    ses.delete_contact_list(ContactListName="big")
    expect_error("NotFoundException", ses.get_contact_list, ContactListName="big")

    # --- credentials ---
    bad = client(aws_access_key_id=os.environ["AWS_ACCESS_KEY_ID"],
                 aws_secret_access_key="wrong-secret-wrong-secret-wrong-secret-xx")
    expect_error("SignatureDoesNotMatch", bad.list_contact_lists, status=403)
    unknown = client(aws_access_key_id="OBXNOSUCHKEY000000000",
                     aws_secret_access_key="whatever")
    expect_error("InvalidClientTokenId", unknown.list_contact_lists, status=403)


def import_suite():
    """CreateImportJob / GetImportJob / ListImportJobs from a file in import_dir."""
    import time
    ses = client()
    ses.create_contact_list(ContactListName="imp", Topics=[
        {"TopicName": "t", "DisplayName": "T", "DefaultSubscriptionStatus": "OPT_OUT"}])
    up = os.path.join(os.environ["OPTBOX_IMPORT_DIR"], "uploads")
    os.makedirs(up, exist_ok=True)
    with open(os.path.join(up, "imp.csv"), "w") as f:
        f.write("emailAddress,topicPreferences.t\n")
        for i in range(50):
            f.write(f"u{i}@example.com,OPT_IN\n")
        f.write("broken,OPT_IN\n")
    job = ses.create_import_job(
        ImportDestination={"ContactListDestination": {"ContactListName": "imp", "ContactListImportAction": "PUT"}},
        ImportDataSource={"S3Url": "s3://uploads/imp.csv", "DataFormat": "CSV"})["JobId"]
    for _ in range(300):
        got = ses.get_import_job(JobId=job)
        if got["JobStatus"] in ("COMPLETED", "FAILED"):
            break
        time.sleep(0.05)
    check(got["JobStatus"] == "COMPLETED", f"import job {got}")
    check(got["ProcessedRecordsCount"] == 51 and got["FailedRecordsCount"] == 1, f"import counts {got}")
    check(got["FailureInfo"]["FailedRecordsS3Url"] == f"s3://failures/{job}.csv", f"failure report {got}")
    check(hasattr(got["CreatedTimestamp"], "year"), "timestamps parse as datetimes")
    c = ses.get_contact(ContactListName="imp", EmailAddress="u7@example.com")
    check(c["TopicPreferences"] == [{"TopicName": "t", "SubscriptionStatus": "OPT_IN"}], f"imported contact {c}")
    jobs = ses.list_import_jobs(ImportDestinationType="CONTACT_LIST")["ImportJobs"]
    check(job in [j["JobId"] for j in jobs], f"list_import_jobs {jobs}")
    expect_error("NotFoundException", ses.get_import_job, JobId="nosuchjob", status=404)
    expect_error("BadRequestException", ses.create_import_job,
                 ImportDestination={"ContactListDestination": {"ContactListName": "imp", "ContactListImportAction": "PUT"}},
                 ImportDataSource={"S3Url": "file:///etc/passwd", "DataFormat": "CSV"}, status=400)
    got = cli("get-import-job", "--job-id", job)
    check(got["JobStatus"] == "COMPLETED", f"CLI get-import-job {got}")


def cli(*args, ok=True):
    env = dict(os.environ)
    p = subprocess.run([AWS, "sesv2", *args, "--endpoint-url", ENDPOINT, "--output", "json"],
                       capture_output=True, text=True, env=env, timeout=60)
    if ok:
        check(p.returncode == 0, f"aws sesv2 {' '.join(args)} failed: {p.stderr}")
        return json.loads(p.stdout) if p.stdout.strip() else {}
    return p


def cli_suite():
    cli("create-contact-list", "--contact-list-name", "cli-list", "--description", "from the CLI",
        "--topics", "TopicName=promo,DisplayName=Promotions,DefaultSubscriptionStatus=OPT_IN")
    got = cli("get-contact-list", "--contact-list-name", "cli-list")
    check(got["ContactListName"] == "cli-list" and got["Topics"][0]["TopicName"] == "promo", f"CLI get {got}")
    cli("update-contact-list", "--contact-list-name", "cli-list", "--description", "changed",
        "--topics", "TopicName=promo,DisplayName=Promotions,DefaultSubscriptionStatus=OPT_OUT")
    got = cli("get-contact-list", "--contact-list-name", "cli-list")
    check(got["Description"] == "changed" and got["Topics"][0]["DefaultSubscriptionStatus"] == "OPT_OUT", "CLI update")
    lists = cli("list-contact-lists")
    check("cli-list" in [x["ContactListName"] for x in lists["ContactLists"]], "CLI list-contact-lists")
    cli("create-contact", "--contact-list-name", "cli-list", "--email-address", "bob+1@example.org",
        "--topic-preferences", "TopicName=promo,SubscriptionStatus=OPT_IN")
    c = cli("get-contact", "--contact-list-name", "cli-list", "--email-address", "bob+1@example.org")
    check(c["TopicPreferences"] == [{"TopicName": "promo", "SubscriptionStatus": "OPT_IN"}], f"CLI get-contact {c}")
    cli("update-contact", "--contact-list-name", "cli-list", "--email-address", "bob+1@example.org",
        "--unsubscribe-all")
    listed = cli("list-contacts", "--contact-list-name", "cli-list", "--filter", "FilteredStatus=OPT_OUT")
    check([x["EmailAddress"] for x in listed["Contacts"]] == ["bob+1@example.org"], f"CLI list-contacts filter {listed}")
    p = cli("get-contact-list", "--contact-list-name", "missing", ok=False)
    check(p.returncode != 0 and "NotFoundException" in p.stderr
          and "List with name: missing doesn't exist." in p.stderr, f"CLI error output: {p.stderr}")
    cli("delete-contact", "--contact-list-name", "cli-list", "--email-address", "bob+1@example.org")
    cli("delete-contact-list", "--contact-list-name", "cli-list")
    p = cli("get-contact-list", "--contact-list-name", "cli-list", ok=False)
    check(p.returncode != 0 and "NotFoundException" in p.stderr, "CLI delete-contact-list")


def strict_suite():
    ses = client()
    topics = [{"TopicName": f"t{i}", "DisplayName": "T", "DefaultSubscriptionStatus": "OPT_IN"} for i in range(21)]
    expect_error("BadRequestException", ses.create_contact_list, ContactListName="one", Topics=topics,
                 message="Maximum of <20> topics allowed per ContactList")
    ses.create_contact_list(ContactListName="one", Topics=topics[:20])
    expect_error("BadRequestException", ses.create_contact_list, ContactListName="two",
                 message="A maximum of 1 Lists allowed per account.")


if __name__ == "__main__":
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}, endpoint {ENDPOINT}")
    if "--strict" in sys.argv:
        strict_suite()
    else:
        boto3_suite()
        cli_suite()
        import_suite()
    print(f"ok: {CHECKS} checks passed")
