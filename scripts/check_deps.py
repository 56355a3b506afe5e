#!/usr/bin/env python3
"""Licences and sources of every dependency in Cargo.lock (`make lint`).

The same policy as deny.toml (for `cargo deny check licenses sources bans` where
cargo-deny is installed): every crate comes from crates.io or from this repository, and
every licence expression is satisfiable with the allowed licences. Prints one line per
violation and exits 1 if there is any.
"""

import json
import re
import subprocess
import sys

ALLOWED = {
    "MIT", "Apache-2.0", "Apache-2.0 WITH LLVM-exception", "BSD-2-Clause", "BSD-3-Clause",
    "ISC", "Unicode-3.0", "Unicode-DFS-2016", "Zlib", "CC0-1.0", "Unlicense", "BSL-1.0",
    "0BSD", "MPL-2.0", "CDLA-Permissive-2.0",
}
CRATES_IO = "registry+https://github.com/rust-lang/crates.io-index"


def satisfiable(expr: str) -> bool:
    """An SPDX expression (also the old `A/B` form) with the allowed licences."""
    expr = expr.replace("/", " OR ")
    tokens = re.findall(r"\(|\)|[^\s()]+(?:\s+WITH\s+[^\s()]+)?", expr)
    pos = 0

    def parse_or():
        nonlocal pos
        ok = parse_and()
        while pos < len(tokens) and tokens[pos] == "OR":
            pos += 1
            ok = parse_and() or ok
        return ok

    def parse_and():
        nonlocal pos
        ok = parse_atom()
        while pos < len(tokens) and tokens[pos] == "AND":
            pos += 1
            ok = parse_atom() and ok
        return ok

    def parse_atom():
        nonlocal pos
        tok = tokens[pos]
        pos += 1
        if tok == "(":
            ok = parse_or()
            pos += 1  # ")"
            return ok
        return re.sub(r"\s+", " ", tok) in ALLOWED

    return parse_or()


def main() -> int:
    meta = json.loads(
        subprocess.run(
            ["cargo", "metadata", "--format-version", "1", "--locked"],
            check=True, capture_output=True, text=True,
        ).stdout
    )
    bad = []
    for p in meta["packages"]:
        name = f"{p['name']} {p['version']}"
        source = p.get("source")
        if source is None:
            continue  # this repository (optbox, vendor/)
        if source != CRATES_IO:
            bad.append(f"{name}: source {source} is not crates.io")
        lic = p.get("license")
        if not lic:
            bad.append(f"{name}: no licence declared")
        elif not satisfiable(lic):
            bad.append(f"{name}: licence {lic!r} is not in the allowed set")
    for b in bad:
        print(f"check_deps: {b}", file=sys.stderr)
    print(f"check_deps: {len(meta['packages'])} packages, {len(bad)} problems")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
