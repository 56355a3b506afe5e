#!/usr/bin/env python3
"""Drive a running optbox's account suppression list with the real AWS CLI and boto3.

Environment: OPTBOX_ENDPOINT, OPTBOX_IMPORT_DIR, AWS_ACCESS_KEY_ID,
AWS_SECRET_ACCESS_KEY, AWS_DEFAULT_REGION; AWS_CLI (path of the `aws` program).
Exits non-zero on the first failed check, printing what differed.
"""
import datetime
import json
import os
import subprocess
import sys
import time

import boto3
import botocore
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


def client():
    return boto3.client("sesv2", endpoint_url=ENDPOINT, region_name=REGION,
                        config=Config(retries={"max_attempts": 1}))


def expect_error(code, fn, status, **kwargs):
    try:
        fn(**kwargs)
    except ClientError as e:
        err = e.response["Error"]
        check(err["Code"] == code, f"{fn.__name__}: code {err['Code']!r} != {code!r} ({err})")
        got = e.response["ResponseMetadata"]["HTTPStatusCode"]
        check(got == status, f"{fn.__name__}: status {got} != {status}")
        return err["Message"]
    check(False, f"{fn.__name__} should have failed with {code}")


def cli(*args, ok=True):
    p = subprocess.run([AWS, "sesv2", *args, "--endpoint-url", ENDPOINT, "--output", "json"],
                       capture_output=True, text=True, timeout=60)
    if ok:
        check(p.returncode == 0, f"aws sesv2 {' '.join(args)} failed: {p.stderr}")
        return json.loads(p.stdout) if p.stdout.strip() else {}
    return p


def boto3_suite():
    ses = client()
    start = datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(seconds=2)
    for email, reason in [("ann+b3@Example.com", "BOUNCE"), ("bob-b3@example.com", "COMPLAINT"),
                          ("cem-b3@example.com", "BOUNCE")]:
        r = ses.put_suppressed_destination(EmailAddress=email, Reason=reason)
        check(r["ResponseMetadata"]["HTTPStatusCode"] == 200, "put_suppressed_destination 200")
        time.sleep(0.01)
    got = ses.get_suppressed_destination(EmailAddress="ann+b3@example.com")["SuppressedDestination"]
    check(got["EmailAddress"] == "ann+b3@example.com", f"get: address {got}")
    check(got["Reason"] == "BOUNCE", f"get: reason {got}")
    check(isinstance(got["LastUpdateTime"], datetime.datetime), f"get: LastUpdateTime {got}")
    check(got["LastUpdateTime"] >= start - datetime.timedelta(seconds=1), f"get: time {got}")

    # Reason filter.
    only = ses.list_suppressed_destinations(Reasons=["COMPLAINT"])["SuppressedDestinationSummaries"]
    check([x["EmailAddress"] for x in only] == ["bob-b3@example.com"], f"Reasons filter {only}")
    check(only[0]["Reason"] == "COMPLAINT" and isinstance(only[0]["LastUpdateTime"], datetime.datetime),
          f"summary shape {only}")
    # Paging by hand: PageSize 1 and NextToken (botocore sends StartDate as ISO 8601).
    seen, token, pages = [], None, 0
    while True:
        kw = {"PageSize": 1, "StartDate": start}
        if token:
            kw["NextToken"] = token
        page = ses.list_suppressed_destinations(**kw)
        seen += [x["EmailAddress"] for x in page["SuppressedDestinationSummaries"]]
        pages += 1
        token = page.get("NextToken")
        if not token:
            break
    check(seen == ["cem-b3@example.com", "bob-b3@example.com", "ann+b3@example.com"],
          f"paged newest first: {seen}")
    check(pages >= 3, f"pages {pages}")
    future = datetime.datetime(2100, 1, 1, tzinfo=datetime.timezone.utc)
    check(ses.list_suppressed_destinations(StartDate=future)["SuppressedDestinationSummaries"] == [],
          "StartDate in the future matches nothing")

    # Errors.
    msg = expect_error("NotFoundException", ses.get_suppressed_destination, 404,
                       EmailAddress="nobody@example.com")
    check("nobody@example.com" in msg, f"NotFound message {msg!r}")
    try:
        ses.get_suppressed_destination(EmailAddress="nobody@example.com")
        check(False, "expected NotFoundException")
    except ses.exceptions.NotFoundException:
        check(True, "client.exceptions.NotFoundException")
    msg = expect_error("BadRequestException", ses.put_suppressed_destination, 400,
                       EmailAddress="x@example.com", Reason="SPAM")
    check("[BOUNCE, COMPLAINT]" in msg, f"bad reason message {msg!r}")
    expect_error("BadRequestException", ses.put_suppressed_destination, 400,
                 EmailAddress="not-an-address", Reason="BOUNCE")
    expect_error("InvalidNextTokenException", ses.list_suppressed_destinations, 400, NextToken="garbage!")

    # Delete.
    ses.delete_suppressed_destination(EmailAddress="bob-b3@example.com")
    expect_error("NotFoundException", ses.get_suppressed_destination, 404, EmailAddress="bob-b3@example.com")
    expect_error("NotFoundException", ses.delete_suppressed_destination, 404, EmailAddress="bob-b3@example.com")


def import_suite():
    ses = client()
    up = os.path.join(os.environ["OPTBOX_IMPORT_DIR"], "uploads")
    os.makedirs(up, exist_ok=True)
    with open(os.path.join(up, "supp.csv"), "w") as f:
        f.write("emailAddress,reason\n")
        for i in range(20):
            f.write(f"imp{i}@example.com,{'COMPLAINT' if i % 2 else 'BOUNCE'}\n")
        f.write("broken,BOUNCE\n")

    def run(action, url, fmt):
        job = ses.create_import_job(
            ImportDestination={"SuppressionListDestination": {"SuppressionListImportAction": action}},
            ImportDataSource={"S3Url": url, "DataFormat": fmt})["JobId"]
        for _ in range(400):
            got = ses.get_import_job(JobId=job)
            if got["JobStatus"] in ("COMPLETED", "FAILED"):
                return job, got
            time.sleep(0.05)
        check(False, f"import job {job} did not finish")

    job, got = run("PUT", "s3://uploads/supp.csv", "CSV")
    check(got["JobStatus"] == "COMPLETED", f"PUT job {got}")
    check(got["ImportDestination"] == {"SuppressionListDestination": {"SuppressionListImportAction": "PUT"}},
          f"ImportDestination {got['ImportDestination']}")
    check(got["ProcessedRecordsCount"] == 21 and got["FailedRecordsCount"] == 1, f"counts {got}")
    check(ses.get_suppressed_destination(EmailAddress="imp3@example.com")["SuppressedDestination"]["Reason"]
          == "COMPLAINT", "imported reason")
    with open(os.path.join(up, "gone.jsonl"), "w") as f:
        for i in range(5):
            f.write(json.dumps({"emailAddress": f"imp{i}@example.com", "reason": "BOUNCE"}) + "\n")
    job2, got = run("DELETE", "s3://uploads/gone.jsonl", "JSON")
    check(got["JobStatus"] == "COMPLETED" and got["ProcessedRecordsCount"] == 5, f"DELETE job {got}")
    expect_error("NotFoundException", ses.get_suppressed_destination, 404, EmailAddress="imp0@example.com")
    ses.get_suppressed_destination(EmailAddress="imp5@example.com")
    jobs = ses.list_import_jobs(ImportDestinationType="SUPPRESSION_LIST")["ImportJobs"]
    check([j["JobId"] for j in jobs][:2] == [job2, job], f"list_import_jobs SUPPRESSION_LIST {jobs}")
    jobs = ses.list_import_jobs(ImportDestinationType="CONTACT_LIST")["ImportJobs"]
    check(job not in [j["JobId"] for j in jobs], f"list_import_jobs CONTACT_LIST {jobs}")


def cli_suite():
    cli("put-suppressed-destination", "--email-address", "dan-cli@example.com", "--reason", "BOUNCE")
    time.sleep(0.01)
    cli("put-suppressed-destination", "--email-address", "eve-cli@example.com", "--reason", "COMPLAINT")
    time.sleep(0.01)
    cli("put-suppressed-destination", "--email-address", "fay-cli@example.com", "--reason", "COMPLAINT")
    got = cli("get-suppressed-destination", "--email-address", "dan-cli@example.com")
    d = got["SuppressedDestination"]
    check(d["EmailAddress"] == "dan-cli@example.com" and d["Reason"] == "BOUNCE", f"CLI get {got}")
    # AWS CLI v1 prints a timestamp as it arrived: epoch seconds.
    check(isinstance(d["LastUpdateTime"], (int, float)) and d["LastUpdateTime"] > time.time() - 300,
          f"CLI time {d}")
    listed = cli("list-suppressed-destinations", "--reasons", "COMPLAINT")
    emails = [x["EmailAddress"] for x in listed["SuppressedDestinationSummaries"]]
    check("eve-cli@example.com" in emails and "dan-cli@example.com" not in emails, f"CLI --reasons {emails}")
    # Paging by hand with --page-size and --next-token; --start-date goes out as ISO 8601.
    since = (datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(minutes=5)).strftime(
        "%Y-%m-%dT%H:%M:%SZ")
    seen, token = [], None
    while True:
        args = ["list-suppressed-destinations", "--reasons", "COMPLAINT", "--page-size", "1",
                "--start-date", since]
        if token:
            args += ["--next-token", token]
        page = cli(*args)
        seen += [x["EmailAddress"] for x in page["SuppressedDestinationSummaries"]]
        token = page.get("NextToken")
        if not token:
            break
    check(seen[:2] == ["fay-cli@example.com", "eve-cli@example.com"], f"CLI pages {seen}")
    check(len(seen) == len(set(seen)), f"CLI pages repeat nothing {seen}")
    listed = cli("list-suppressed-destinations", "--end-date", "2000-01-01T00:00:00Z")
    check(listed["SuppressedDestinationSummaries"] == [], f"CLI --end-date {listed}")
    p = cli("get-suppressed-destination", "--email-address", "nobody@example.com", ok=False)
    check(p.returncode != 0 and "NotFoundException" in p.stderr, f"CLI NotFound: {p.stderr}")
    p = cli("put-suppressed-destination", "--email-address", "x@example.com", "--reason", "SPAM", ok=False)
    check(p.returncode != 0 and "BadRequestException" in p.stderr, f"CLI bad reason: {p.stderr}")
    cli("delete-suppressed-destination", "--email-address", "dan-cli@example.com")
    p = cli("get-suppressed-destination", "--email-address", "dan-cli@example.com", ok=False)
    check(p.returncode != 0 and "NotFoundException" in p.stderr, "CLI delete")


if __name__ == "__main__":
    print(f"boto3 {boto3.__version__}, botocore {botocore.__version__}, endpoint {ENDPOINT}")
    boto3_suite()
    cli_suite()
    import_suite()
    print(f"ok: {CHECKS} checks passed")
