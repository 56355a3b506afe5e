"""Verifies every DKIM-Signature of a message with dkimpy, an independent verifier.

Usage: dkim_verify.py MESSAGE_FILE NAME=TXT [NAME=TXT ...]
The TXT records are served by a dnsfunc instead of DNS (the sender's keys and optbox's
alike). Prints one line per signature ("pass d=DOMAIN" or "fail d=DOMAIN: ...") and exits
0 when the message has at least one signature and all of them verify, 1 otherwise.
"""
import sys

import dkim

msg = open(sys.argv[1], "rb").read()
records = {}
for arg in sys.argv[2:]:
    name, value = arg.split("=", 1)
    records[name.rstrip(".").lower()] = value.encode()


def dnsfunc(name, timeout=5):
    if isinstance(name, bytes):
        name = name.decode()
    return records.get(name.rstrip(".").lower(), b"")


d = dkim.DKIM(msg)
count = sum(1 for name, _ in d.headers if name.lower() == b"dkim-signature")
if count == 0:
    print("fail: the message has no DKIM-Signature")
    sys.exit(1)
failed = False
for idx in range(count):
    d = dkim.DKIM(msg)
    try:
        ok = d.verify(idx=idx, dnsfunc=dnsfunc)
        why = "signature did not verify"
    except Exception as e:  # dkimpy raises on malformed signatures
        ok, why = False, str(e)
    domain = (d.domain or b"?").decode()
    if ok:
        print(f"pass d={domain}")
    else:
        print(f"fail d={domain}: {why}")
        failed = True
sys.exit(1 if failed else 0)
