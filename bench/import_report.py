"""Table and JSON for bench/import.sh: import, re-import and export of N contacts."""
import json, os, sys, datetime, platform

d, n = sys.argv[1], int(sys.argv[2])
size = os.path.getsize(os.path.join(d, "contacts.csv"))
out = {"when": datetime.datetime.utcnow().isoformat() + "Z", "machine": f"{os.cpu_count()} cores, {platform.machine()}",
       "rows": n, "file_bytes": size, "backends": {}}
goals = {("sqlite", "import"): 15, ("postgres", "import"): 20, ("sqlite", "export"): 10, ("postgres", "export"): 10}
print(f"\noptbox import/export — {n:,} contacts, two topic columns, {size / 1e6:.0f} MB CSV\n")
print(f"| {'backend':<8} | {'step':<36} | {'seconds':>7} | {'rows/s':>9} | {'peak RSS MB':>11} | {'goal s':>6} |")
print(f"|{'-'*10}|{'-'*38}|{'-'*9}|{'-'*11}|{'-'*13}|{'-'*8}|")
names = {"import": "import into an empty list", "reimport": "same file again (all unchanged)", "export": "export (CSV to stdout)"}
for b in ["sqlite", "postgres"]:
    res = {}
    for step in ["import", "reimport", "export"]:
        secs, kib = open(os.path.join(d, f"{b}-{step}.time")).read().split()
        secs, mb = float(secs), int(kib) / 1024
        res[step] = {"seconds": secs, "rows_per_s": round(n / secs), "peak_rss_mb": round(mb, 1)}
        g = goals.get((b, step))
        print(f"| {b:<8} | {names[step]:<36} | {secs:>7.1f} | {n / secs:>9,.0f} | {mb:>11.1f} | {g if g else '':>6} |")
    lines = sum(1 for _ in open(os.path.join(d, f"{b}-export.csv"))) - 1
    res["export_rows"] = lines
    res["import_summary"] = open(os.path.join(d, f"{b}-import.out")).read().strip()
    out["backends"][b] = res
    assert lines == n, f"{b}: exported {lines} rows, expected {n}"
os.makedirs("target/bench", exist_ok=True)
json.dump(out, open("target/bench/import.json", "w"), indent=2)
print("\nwritten: target/bench/import.json")
