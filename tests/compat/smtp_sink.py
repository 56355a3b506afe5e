"""A real SMTP server (aiosmtpd) for the relay tests: stores every message it accepts in
DIR as N.eml (the bytes) and N.json (the envelope), and refuses some recipients:
reject*@ -> 550 5.1.1 (no such mailbox), policy*@ -> 550 5.7.1 (a policy refusal),
tempfail*@ -> 451 (temporary).

usage: smtp_sink.py DIR PORT   (PORT 0 picks one; prints "READY <port>" when listening)
"""

import asyncio
import itertools
import json
import os
import sys

from aiosmtpd.smtp import SMTP


class Handler:
    def __init__(self, directory):
        self.directory = directory
        self.counter = itertools.count(1)

    async def handle_RCPT(self, server, session, envelope, address, rcpt_options):
        local = address.split("@", 1)[0].lower()
        if local.startswith("reject"):
            return "550 5.1.1 <%s>: mailbox unavailable" % address
        if local.startswith("policy"):
            return "550 5.7.1 Message rejected under our spam policy"
        if local.startswith("tempfail"):
            return "451 4.3.0 try again later"
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope):
        n = next(self.counter)
        base = os.path.join(self.directory, "%06d" % n)
        with open(base + ".eml.tmp", "wb") as f:
            f.write(envelope.original_content or envelope.content)
        with open(base + ".json.tmp", "w") as f:
            json.dump({"mail_from": envelope.mail_from, "rcpt_tos": envelope.rcpt_tos}, f)
        os.rename(base + ".eml.tmp", base + ".eml")
        os.rename(base + ".json.tmp", base + ".json")
        return "250 2.0.0 Ok: stored as %d" % n


async def main():
    directory, port = sys.argv[1], int(sys.argv[2])
    handler = Handler(directory)
    loop = asyncio.get_running_loop()
    server = await loop.create_server(
        lambda: SMTP(handler, hostname="sink", data_size_limit=64 << 20, decode_data=False),
        "127.0.0.1",
        port,
    )
    print("READY %d" % server.sockets[0].getsockname()[1], flush=True)
    await server.serve_forever()


if __name__ == "__main__":
    asyncio.run(main())
