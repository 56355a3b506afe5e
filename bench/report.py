"""Parses wrk output, checks durability in the database, prints the table, writes JSON."""
import json, re, sqlite3, sys, datetime, platform, os

d, idle_rss, peak_rss, page_bytes, wasm_bytes, wasm_gz, contacts, conns, duration = sys.argv[1:]

def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

def parse(name):
    t = open(os.path.join(d, name + ".txt")).read()
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1))
    lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    total = int(re.search(r"(\d+) requests in", t).group(1))
    return {"rps": rps, "p50_ms": lat.get("50"), "p90_ms": lat.get("90"), "p99_ms": lat.get("99"),
            "requests": total, "non_2xx": int(bad.group(1)) if bad else 0}

r = {k: parse(k) for k in ["healthz", "page", "page_serial", "one_click"]}
ceiling = r["healthz"]["rps"]

# Durability and idempotence: every contact hit by a one-click has exactly one event.
db = sqlite3.connect(os.path.join(d, "bench.db"))
events = db.execute("SELECT COUNT(*) FROM events WHERE kind = 'subscription'").fetchone()[0]
changed = db.execute("SELECT COUNT(*) FROM contacts WHERE unsubscribe_all OR id IN (SELECT contact_id FROM contact_topic_prefs WHERE opt_in = 0)").fetchone()[0]
dups = db.execute("SELECT COUNT(*) FROM (SELECT contact_email FROM events WHERE kind = 'subscription' GROUP BY contact_email HAVING COUNT(*) > 1)").fetchone()[0]

out = {
    "when": datetime.datetime.utcnow().isoformat() + "Z", "machine": f"{os.cpu_count()} cores, {platform.machine()}",
    "backend": "sqlite", "contacts": int(contacts), "connections": int(conns), "duration": duration,
    "results": r,
    "ratios_to_healthz": {k: round(v["rps"] / ceiling, 3) for k, v in r.items()},
    "page_bytes": int(page_bytes), "wasm_bytes": int(wasm_bytes), "wasm_gzip_bytes": int(wasm_gz),
    "idle_rss_kb": int(idle_rss), "peak_rss_kb": int(peak_rss),
    "one_click_check": {"subscription_events": events, "contacts_opted_out": changed, "contacts_with_two_events": dups},
}
json.dump(out, open(os.path.join(d, "results.json"), "w"), indent=2)

print(f"\noptbox benchmark — SQLite, {contacts} contacts, {conns} connections, {duration} per run, wrk from a separate process\n")
print(f"| {'workload':<34} | {'req/s':>9} | {'× /healthz':>10} | {'p50 ms':>7} | {'p99 ms':>7} | {'non-2xx':>7} |")
print(f"|{'-'*36}|{'-'*11}|{'-'*12}|{'-'*9}|{'-'*9}|{'-'*9}|")
names = {"healthz": "GET /healthz (ceiling)", "page": "GET /u/{token} preference page",
         "page_serial": "GET /u/{token}, 1 connection", "one_click": "POST /u/{token} one-click (durable)"}
for k, v in r.items():
    print(f"| {names[k]:<34} | {v['rps']:>9.0f} | {v['rps']/ceiling:>10.2f} | {v['p50_ms']:>7.2f} | {v['p99_ms']:>7.2f} | {v['non_2xx']:>7} |")
print(f"\npreference page: {int(page_bytes)} bytes of HTML; wasm bundle {int(wasm_bytes)} bytes ({int(wasm_gz)} gzip)")
print(f"RSS: idle {int(idle_rss)//1024} MiB, peak {int(peak_rss)//1024} MiB")
print(f"one-click check: {events} subscription events for {changed} opted-out contacts; contacts with two events: {dups}")
ok = events == changed and dups == 0 and r["one_click"]["non_2xx"] == 0
print("one-click durability/idempotence:", "OK" if ok else "FAILED")
sys.exit(0 if ok else 1)
