"""One `wrk --latency` output file, parsed: bench/http_report.py and bench/one_click_ab.sh."""
import re


def ms(v, unit):
    return float(v) * {"us": 0.001, "ms": 1.0, "s": 1000.0}[unit]


def parse(path):
    t = open(path).read()
    lat = {p: ms(v, u) for p, v, u in re.findall(r"^\s+(50|90|99)%\s+([\d.]+)(us|ms|s)\s*$", t, re.M)}
    bad = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", t)
    rep = re.search(r"Repeated POSTs:\s+(\d+)", t)
    return {"rps": float(re.search(r"Requests/sec:\s+([\d.]+)", t).group(1)),
            "requests": int(re.search(r"(\d+) requests in", t).group(1)),
            "p50_ms": lat.get("50"), "p99_ms": lat.get("99"), "non_2xx": int(bad.group(1)) if bad else 0,
            **({"repeated_posts": int(rep.group(1))} if rep else {})}
