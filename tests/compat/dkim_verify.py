"""Verifies the first DKIM-Signature of a message with dkimpy, an independent verifier.

Usage: dkim_verify.py MESSAGE_FILE NAME=TXT [NAME=TXT ...]
The TXT records are served by a dnsfunc instead of DNS. Prints "pass" or "fail: ..." and
exits 0 on pass, 1 on fail.
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
try:
    ok = d.verify(idx=0, dnsfunc=dnsfunc)
except Exception as e:  # dkimpy raises on malformed signatures
    print(f"fail: {e}")
    sys.exit(1)
if ok:
    print("pass")
    sys.exit(0)
print("fail: signature did not verify")
sys.exit(1)
