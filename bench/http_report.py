"""Parses the wrk runs of bench/run.sh per backend, checks one-click idempotence, writes
target/bench/http.json (bench/summary.py prints the combined table)."""
import json, os, sys, datetime, platform

d, n, conns, duration, wasm_bytes, wasm_gz, *backends = sys.argv[1:]

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import wrk_output

def parse(name):
    return wrk_output.parse(os.path.join(d, name + ".txt"))

def num(name):
    return int(open(os.path.join(d, name)).read().split()[0])

out = {"when": datetime.datetime.utcnow().isoformat() + "Z", "machine": f"{os.cpu_count()} cores, {platform.machine()}",
       "contacts": int(n), "connections": int(conns), "duration": duration,
       "wasm_bytes": int(wasm_bytes), "wasm_gzip_bytes": int(wasm_gz), "backends": {}}
ok = True
for b in backends:
    # BENCH_WORKLOADS=recipient runs only the first four.
    r = {k: parse(f"{b}-{k}") for k in ["healthz", "page", "page_serial", "manage", "subscribe", "one_click", "get_contact", "update_contact", "send_email"]
         if os.path.exists(os.path.join(d, f"{b}-{k}.txt"))}
    events, distinct = map(int, open(os.path.join(d, f"{b}-events")).read().split())
    res = {"results": r, "ratios_to_healthz": {k: round(v["rps"] / r["healthz"]["rps"], 3) for k, v in r.items()},
           "list_contacts_pages": json.load(open(os.path.join(d, f"{b}-pages.json")))
                                   if os.path.exists(os.path.join(d, f"{b}-pages.json")) else None,
           "idle_rss_kb": num(f"{b}-idle_rss_kb"), "peak_rss_kb": num(f"{b}-peak_rss_kb"),
           "page_bytes": num(f"{b}-page_bytes"),
           "manage_bytes": num(f"{b}-manage_bytes"), "subscribe_bytes": num(f"{b}-subscribe_bytes"),
           "one_click_check": {"subscription_events": events, "distinct_contacts": distinct}}
    drain = os.path.join(d, f"{b}-one_click_drain_s")
    if os.path.exists(drain):
        res["one_click_drain_s"] = float(open(drain).read())
    out["backends"][b] = res
    ok &= events == distinct and events > 0 and all(v["non_2xx"] == 0 for v in r.values())
    # Every 200 is durable: each first opt-out wrk saw answered has its event (wrk does
    # not count the answers still in flight at the end, so there may be a few more events).
    oc = r.get("one_click")
    if oc and events < oc["requests"] - oc.get("repeated_posts", 0):
        print(f"bench: {b}: {oc['requests'] - oc.get('repeated_posts', 0)} one-click 200s but {events} events", file=sys.stderr)
        ok = False
os.makedirs(os.path.join(d, ".."), exist_ok=True)
json.dump(out, open(os.path.join(d, "..", "http.json"), "w"), indent=2)
if not ok:
    print("bench: a run had non-2xx answers or a link with two one-click events", file=sys.stderr)
sys.exit(0 if ok else 1)
