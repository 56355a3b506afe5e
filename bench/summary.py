"""Prints one table from every part of `make bench` that ran (target/bench/*.json) and
writes them together as target/bench/summary.json, for comparison between runs."""
import json, os, sys

root = "target/bench"
def load(name):
    p = os.path.join(root, name)
    return json.load(open(p)) if os.path.exists(p) else None

http, imp, hooks = load("http.json"), load("import.json"), load("webhooks.json")
extra = {f[:-5]: load(f) for f in sorted(os.listdir(root)) if f.endswith(".json")
         and f not in ("http.json", "import.json", "webhooks.json", "summary.json")} if os.path.isdir(root) else {}
rows = []
def row(backend, workload, rps=None, ratio=None, p50=None, p99=None, note=""):
    rows.append((backend, workload, rps, ratio, p50, p99, note))

if http:
    names = {"healthz": "GET /healthz (ceiling)", "page": "GET /u/{token} preference page",
             "page_serial": "GET /u/{token}, 1 connection", "manage": "GET /m/{token} manage page",
             "subscribe": "GET /s/{list} subscribe form", "one_click": "POST /u/{token} one-click (durable)",
             "get_contact": "SES GetContact (SigV4)", "update_contact": "SES UpdateContact (SigV4, durable)",
             "send_email": "SES SendEmail (pipeline + durable enqueue)"}
    for b, res in http["backends"].items():
        hz = res["results"]["healthz"]["rps"]
        for k, v in res["results"].items():
            note = (f"{v['requests'] - v['repeated_posts']:,} first opt-outs, {v['repeated_posts']:,} repeats"
                    if "repeated_posts" in v else "")
            row(b, names.get(k, k), v["rps"], v["rps"] / hz, v["p50_ms"], v["p99_ms"], note)
        for k, v in (res["list_contacts_pages"] or {}).items():
            row(b, f"SES ListContacts 1,000/page, {k}", None, None, v["p50_ms"], v["p99_ms"], f"{v['pages']} pages")
        row(b, "HTML bytes: /u/ · /m/ · /s/",
            note=f"{res['page_bytes']:,} · {res.get('manage_bytes', 0):,} · {res.get('subscribe_bytes', 0):,}")
        row(b, "RSS idle / peak", note=f"{res['idle_rss_kb']//1024} / {res['peak_rss_kb']//1024} MiB")
        c = res["one_click_check"]
        row(b, "one-click events / distinct links", note=f"{c['subscription_events']} / {c['distinct_contacts']}")
        if "one_click_drain_s" in res:
            row(b, "one-click log applied after the run", note=f"{res['one_click_drain_s']:.1f} s")
if imp:
    for b, res in imp.get("backends", imp).items():
        if not isinstance(res, dict):
            continue
        for step in ("import", "reimport", "export"):
            s = res.get(step)
            if isinstance(s, dict):
                rate = s.get("rows_per_s")
                row(b, f"{step} {imp.get('rows', 0):,} contacts (rows/s)", rate, None, None, None,
                    f"{s.get('seconds')} s, peak RSS {s.get('peak_rss_mb')} MB")
if hooks:
    hz = hooks.get("healthz_rps") or 0
    d = hooks.get("deliveries_per_sec")
    row("sqlite", "webhook deliveries/s", d, d / hz if hz and d else None)
    for k, label in (("lag_idle_ms", "webhook lag, idle"), ("lag_load_ms", "webhook lag, under one-click load")):
        v = hooks.get(k)
        if isinstance(v, dict):
            row("sqlite", label, None, None, v.get("p50"), v.get("p99"))
for name, data in extra.items():
    for r in (data or {}).get("rows", []):
        row(r.get("backend", ""), r.get("workload", name), r.get("rps"), r.get("ratio"), r.get("p50_ms"), r.get("p99_ms"), r.get("note", ""))

f = lambda v, fmt: (fmt.format(v) if isinstance(v, (int, float)) else "")
print(f"\noptbox benchmark — {http['contacts']:,} contacts, {http['connections']} connections, {http['duration']} per run, {http['machine']}\n" if http else "\noptbox benchmark\n")
print(f"| {'backend':<8} | {'workload':<44} | {'req/s':>9} | {'× /healthz':>10} | {'p50 ms':>7} | {'p99 ms':>7} | note")
print(f"|{'-'*10}|{'-'*46}|{'-'*11}|{'-'*12}|{'-'*9}|{'-'*9}|------")
for b, w, rps, ratio, p50, p99, note in rows:
    print(f"| {b:<8} | {w:<44} | {f(rps, '{:,.0f}'):>9} | {f(ratio, '{:.2f}'):>10} | {f(p50, '{:.2f}'):>7} | {f(p99, '{:.2f}'):>7} | {note}")
if http:
    print(f"\nwasm bundle: {http['wasm_bytes']:,} bytes ({http['wasm_gzip_bytes']:,} gzip)")
json.dump({"http": http, "import": imp, "webhooks": hooks, **extra}, open(os.path.join(root, "summary.json"), "w"), indent=2)
print(f"written: {root}/summary.json")
