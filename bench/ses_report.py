"""Table and JSON for bench/ses.sh: SES API throughput with SigV4 and ListContacts pages."""
import json, os, re, sys, datetime, platform

d, n, conns, duration = sys.argv[1:]

def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]

def parse(name):
    t = open(os.path.join(d, name + ".txt")).read()
    lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|99)%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)),
            "p50_ms": lat.get("50"), "p99_ms": lat.get("99"), "non_2xx": int(bad.group(1)) if bad else 0}

out = {"when": datetime.datetime.utcnow().isoformat() + "Z", "machine": f"{os.cpu_count()} cores, {platform.machine()}",
       "contacts": int(n), "connections": int(conns), "duration": duration, "backends": {}}
ok = True
print(f"\noptbox SES API — {int(n):,} contacts, {conns} connections, {duration} per run, wrk from a separate process\n")
print(f"| {'backend':<8} | {'workload':<34} | {'req/s':>8} | {'× /healthz':>10} | {'p50 ms':>7} | {'p99 ms':>7} | {'non-2xx':>7} |")
print(f"|{'-'*10}|{'-'*36}|{'-'*10}|{'-'*12}|{'-'*9}|{'-'*9}|{'-'*9}|")
for b in ["sqlite", "postgres"]:
    r = {k: parse(f"{b}-{k}") for k in ["healthz", "get_contact", "update_contact"]}
    pages = json.load(open(os.path.join(d, f"{b}-pages.json")))
    out["backends"][b] = {"results": r, "ratios_to_healthz": {k: round(v["rps"] / r["healthz"]["rps"], 3) for k, v in r.items()},
                          "list_contacts_pages": pages}
    names = {"healthz": "GET /healthz (ceiling)", "get_contact": "GetContact (SigV4)", "update_contact": "UpdateContact (SigV4, durable)"}
    for k, v in r.items():
        print(f"| {b:<8} | {names[k]:<34} | {v['rps']:>8.0f} | {v['rps']/r['healthz']['rps']:>10.2f} | {v['p50_ms']:>7.2f} | {v['p99_ms']:>7.2f} | {v['non_2xx']:>7} |")
        ok &= v["non_2xx"] == 0
    for k, v in pages.items():
        print(f"| {b:<8} | {'ListContacts 1,000/page ' + k:<34} | {'':>8} | {'':>10} | {v['p50_ms']:>7.2f} | {v['p99_ms']:>7.2f} | {'':>7} |")
json.dump(out, open(os.path.join(d, "..", "ses.json"), "w"), indent=2)
print("\n(ListContacts: pages walked one at a time with NextToken; goal p99 < 20 ms per 1,000-row page)")
sys.exit(0 if ok else 1)
