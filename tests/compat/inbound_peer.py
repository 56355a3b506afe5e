"""A mail system talking to optbox's inbound listener with Python's smtplib: it sends
unsubscribe mail, auto-replies, delivery status notifications (RFC 3464) and feedback
reports (RFC 5965), built with the standard library's email package.

usage: inbound_peer.py PORT MAIL_FROM RCPT KIND [ARG...]
  KIND unsubscribe            a person's "unsubscribe" mail
  KIND autoreply              an out-of-office reply (Auto-Submitted: auto-replied)
  KIND dsn STATUS RECIPIENT   a DSN: Action failed (5.x.x) or delayed (4.x.x)
  KIND arf RETURN_PATH TO     an ARF abuse report including the original's headers
  KIND sample FILE RETURN_PATH  a stored real-world report, its Return-Path replaced
  KIND garbage                a malformed multipart/report
MAIL_FROM "-" is the null sender. With INBOUND_STARTTLS=1 in the environment it starts
TLS first (any certificate). Prints "OK <code>" or "REFUSED <code> <text>".
"""

import os
import smtplib
import ssl
import sys
from email.message import EmailMessage
from email.mime.base import MIMEBase
from email.parser import HeaderParser
from email.mime.multipart import MIMEMultipart
from email.mime.text import MIMEText


def unsubscribe(rcpt, mail_from):
    m = EmailMessage()
    m["From"] = mail_from
    m["To"] = rcpt
    m["Subject"] = "unsubscribe"
    m.set_content("Please take me off this list.\n")
    return m.as_bytes()


def autoreply(rcpt, mail_from):
    m = EmailMessage()
    m["From"] = mail_from
    m["To"] = rcpt
    m["Subject"] = "Out of office: unsubscribe"
    m["Auto-Submitted"] = "auto-replied"
    m.set_content("I am away until Monday.\n")
    return m.as_bytes()


def report(report_type, machine, original_headers, human):
    outer = MIMEMultipart("report", report_type=report_type)
    outer["From"] = "mailer-daemon@mx.receiver.example"
    outer["Subject"] = "report"
    outer.attach(MIMEText(human))
    # The machine-readable part as the email package models it: message/delivery-status
    # is a list of field blocks, message/feedback-report one block.
    blocks = [HeaderParser().parsestr(b.strip("\r\n") + "\r\n\r\n") for b in machine.split("\r\n\r\n") if b.strip()]
    part = MIMEBase("message", report_type)
    del part["MIME-Version"]
    part.set_payload(blocks)
    outer.attach(part)
    hdrs = MIMEBase("text", "rfc822-headers")
    hdrs.set_payload(original_headers)
    outer.attach(hdrs)
    return outer.as_bytes()


def dsn(rcpt, status, recipient):
    action = "failed" if status.startswith("5") else "delayed"
    machine = (
        "Reporting-MTA: dns; mx.receiver.example\r\n\r\n"
        "Final-Recipient: rfc822; %s\r\nAction: %s\r\nStatus: %s\r\n"
        "Diagnostic-Code: smtp; 550 %s <%s>: %s\r\n"
        % (recipient, action, status, status, recipient,
           "user unknown" if status == "5.1.1" else "message refused by policy")
    )
    original = "Return-Path: <%s>\r\nFrom: news@example.com\r\nTo: %s\r\nSubject: news\r\n" % (rcpt, recipient)
    return report("delivery-status", machine, original, "Delivery to %s failed.\n" % recipient)


def arf(return_path, to):
    machine = (
        "Feedback-Type: abuse\r\nUser-Agent: ReceiverFBL/1.0\r\nVersion: 1\r\n"
        "Original-Rcpt-To: %s\r\nArrival-Date: Thu, 8 Mar 2026 14:00:00 EST\r\n" % to
    )
    original = (
        "Return-Path: <%s>\r\nFrom: news@example.com\r\nTo: %s\r\n"
        "Subject: news\r\nMessage-ID: <orig@example.com>\r\n" % (return_path, to)
    )
    return report("feedback-report", machine, original, "This is an abuse report.\n")


def garbage():
    return (
        b"From: x@y.example\r\nSubject: broken\r\nContent-Type: multipart/report; "
        b"report-type=delivery-status; boundary=\"zz\"\r\n\r\n--zz\r\nContent-Type: "
        b"message/delivery-status\r\n\r\nAction\r\n\x00\xff\r\n"
    )


def main():
    port, mail_from, rcpt, kind, args = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5:]
    if mail_from == "-":
        mail_from = ""
    if kind == "unsubscribe":
        data = unsubscribe(rcpt, mail_from or "someone@example.org")
    elif kind == "autoreply":
        data = autoreply(rcpt, mail_from or "someone@example.org")
    elif kind == "dsn":
        data = dsn(rcpt, args[0], args[1])
    elif kind == "arf":
        data = arf(args[0], args[1])
    elif kind == "sample":
        with open(args[0], "rb") as f:
            data = f.read().replace(b"RETURN_PATH", args[1].encode())
    elif kind == "garbage":
        data = garbage()
    else:
        raise SystemExit("unknown kind " + kind)
    try:
        with smtplib.SMTP("127.0.0.1", port, timeout=10) as s:
            s.ehlo("mx.receiver.example")
            if os.environ.get("INBOUND_STARTTLS") == "1":
                ctx = ssl.create_default_context()
                ctx.check_hostname = False
                ctx.verify_mode = ssl.CERT_NONE
                s.starttls(context=ctx)
                s.ehlo("mx.receiver.example")
            s.sendmail(mail_from, [rcpt], data)
        print("OK 250")
    except smtplib.SMTPRecipientsRefused as e:
        code, text = list(e.recipients.values())[0]
        print("REFUSED %d %s" % (code, text.decode()))
    except smtplib.SMTPResponseException as e:
        print("REFUSED %d %s" % (e.smtp_code, e.smtp_error.decode()))


if __name__ == "__main__":
    main()
