#!/usr/bin/env python3
"""Anonymous abuse against one optbox server, for bench/abuse.sh.

Holds, from SOURCE (another loopback address than the measuring client), until killed:
- LOGINS concurrent sign-in attempts with wrong passwords, each re-sent as soon as it
  is answered (a refused or closed connection is opened again);
- HTTP idle sockets and SMTP idle sockets: connected, silent, reopened when the server
  closes them.
Every second it prints one line of counts to stderr.
"""

import argparse
import asyncio
import sys
import time
import urllib.parse

counts = {"login_answers": 0, "login_refused": 0, "http_reopened": 0, "smtp_reopened": 0}


async def login_loop(host, port, source, n):
    body = urllib.parse.urlencode({"email": "owner@example.com", "password": f"wrong-password-{n}"})
    req = (
        f"POST /api/login HTTP/1.1\r\nHost: {host}:{port}\r\nOrigin: http://{host}:{port}\r\n"
        f"Content-Type: application/x-www-form-urlencoded\r\nAccept: application/json\r\n"
        f"Content-Length: {len(body)}\r\n\r\n{body}"
    ).encode()
    while True:
        try:
            r, w = await asyncio.open_connection(host, port, local_addr=(source, 0))
            while True:
                w.write(req)
                await w.drain()
                head = await r.readuntil(b"\r\n\r\n")
                length = 0
                for line in head.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":")[1])
                if length:
                    await r.readexactly(length)
                counts["login_answers"] += 1
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError):
            counts["login_refused"] += 1
            await asyncio.sleep(0.5)


async def idle_loop(host, port, source, kind):
    while True:
        try:
            r, w = await asyncio.open_connection(host, port, local_addr=(source, 0))
            while await r.read(4096):
                pass
            w.close()
        except OSError:
            pass
        counts[f"{kind}_reopened"] += 1
        await asyncio.sleep(0.5)


async def report():
    start = time.time()
    while True:
        await asyncio.sleep(1)
        print(f"abuse {time.time() - start:5.1f}s {counts}", file=sys.stderr, flush=True)


async def main():
    p = argparse.ArgumentParser()
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--http-port", type=int, required=True)
    p.add_argument("--smtp-port", type=int, required=True)
    p.add_argument("--source", default="127.0.0.2")
    p.add_argument("--logins", type=int, default=500)
    p.add_argument("--http-idle", type=int, default=300)
    p.add_argument("--smtp-idle", type=int, default=300)
    a = p.parse_args()
    tasks = [report()]
    tasks += [login_loop(a.host, a.http_port, a.source, i) for i in range(a.logins)]
    tasks += [idle_loop(a.host, a.http_port, a.source, "http") for _ in range(a.http_idle)]
    tasks += [idle_loop(a.host, a.smtp_port, a.source, "smtp") for _ in range(a.smtp_idle)]
    await asyncio.gather(*tasks)


if __name__ == "__main__":
    try:
        asyncio.run(main())
    except KeyboardInterrupt:
        pass
