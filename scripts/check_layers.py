#!/usr/bin/env python3
"""The layering rule of docs/architecture.md, checked on the source (`make lint`).

Entry points (http, serverfns, smtp, the CLI, startup) -> service -> store / mail /
events -> domain; nothing imports a layer above its own, and no two modules import each
other, directly or round a longer cycle. A module is a file under src/ (a `mod.rs` is its
directory's module). Prints each violation and exits 1 if there is any.
"""

import pathlib
import re
import sys

SRC = pathlib.Path(__file__).resolve().parent.parent / "src"

# Rank of each part of the tree: a module may import only modules of a rank no higher
# than its own. Longest prefix wins.
RANKS = [
    ("main", 5),
    ("cli", 5),
    ("server::startup", 5),
    ("server::http", 4),
    ("serverfns", 4),
    ("server::smtp", 4),
    ("app", 4),
    ("ui", 4),
    ("server::state", 4),
    ("server::service", 3),
    ("server::sessions", 3),
    ("server::config", 1),
    ("server::store", 2),
    ("server::mail", 2),
    ("server::events", 2),
    ("server::telemetry", 2),
    ("server::conn_limit", 1),
    ("server::token", 1),
    ("server::hex", 1),
    ("server::fuzzing", 5),
    ("server", 1),
    ("domain", 0),
]
# The only server modules that may use the Leptos app itself (to render it).
PAGE_USERS = {"server::startup"}
NAMES = {5: "wiring/CLI", 4: "entry point", 3: "service", 2: "store/mail", 1: "shared", 0: "domain"}


def module_of(path: pathlib.Path) -> str:
    rel = path.relative_to(SRC).with_suffix("")
    parts = list(rel.parts)
    if parts[-1] == "mod":
        parts.pop()
    if parts == ["lib"]:
        return ""
    return "::".join(parts)


def rank(module: str) -> int:
    best, best_len = None, -1
    for prefix, r in RANKS:
        if (module == prefix or module.startswith(prefix + "::")) and len(prefix) > best_len:
            best, best_len = r, len(prefix)
    return 4 if best is None else best


def strip_tests(text: str) -> str:
    """Drops `#[cfg(test)] mod tests { ... }` blocks: tests may reach anywhere."""
    out, i = [], 0
    for m in re.finditer(r"#\[cfg\(test\)\]\s*mod\s+\w+\s*\{", text):
        if m.start() < i:
            continue
        out.append(text[i : m.start()])
        depth, j = 1, m.end()
        while j < len(text) and depth:
            depth += {"{": 1, "}": -1}.get(text[j], 0)
            j += 1
        i = j
    out.append(text[i:])
    return "".join(out)


def strip_comments(text: str) -> str:
    text = re.sub(r"/\*.*?\*/", "", text, flags=re.S)
    return re.sub(r"//[^\n]*", "", text)


def main() -> int:
    files = {module_of(p): p for p in SRC.rglob("*.rs")}
    modules = set(files)
    edges: dict[str, set[str]] = {m: set() for m in modules}

    def resolve(path: list[str]) -> str | None:
        for n in range(len(path), 0, -1):
            cand = "::".join(path[:n])
            if cand in modules:
                return cand
        return None

    for mod, path in files.items():
        text = strip_comments(strip_tests(path.read_text()))
        # `use` trees are flattened to their leading path; `crate::a::{b, c}` names a::b and a::c.
        for m in re.finditer(r"\b(crate|super|optbox)((?:::\w+)+)(::\{([^{}]*)\})?", text):
            root, rest, group = m.group(1), m.group(2), m.group(4)
            segs = rest.strip(":").split("::")
            if root == "super":
                base = mod.split("::")[:-1]
                while segs and segs[0] == "super":
                    segs.pop(0)
                    base = base[:-1]
                segs = base + segs
            targets = [segs]
            if group:
                targets = [segs + [g.strip().split("::")[0]] for g in group.split(",") if g.strip()]
            for t in targets:
                target = resolve(t)
                if target is None or target == mod:
                    continue
                # A module's own children and ancestors are part of it (mod declarations).
                if target.startswith(mod + "::") or mod.startswith(target + "::"):
                    continue
                edges[mod].add(target)

    problems = []
    for mod in sorted(modules):
        for t in sorted(edges[mod]):
            if (
                mod.startswith("server::")
                and mod not in PAGE_USERS
                and (t == "app" or t.startswith("ui"))
            ):
                problems.append(f"server code uses the pages: {mod} uses {t}")
            if rank(t) > rank(mod):
                problems.append(
                    f"upward import: {mod} ({NAMES[rank(mod)]}) uses {t} ({NAMES[rank(t)]})"
                )

    # Tarjan's strongly connected components: any with more than one module is a cycle.
    index, low, stack, on, sccs, counter = {}, {}, [], set(), [], [0]

    def strong(v):
        index[v] = low[v] = counter[0]
        counter[0] += 1
        stack.append(v)
        on.add(v)
        for w in edges[v]:
            if w not in index:
                strong(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                sccs.append(sorted(comp))

    sys.setrecursionlimit(10000)
    for v in sorted(modules):
        if v not in index:
            strong(v)
    for comp in sccs:
        inner = [f"{a} -> {b}" for a in comp for b in sorted(edges[a]) if b in comp]
        problems.append("import cycle: " + "; ".join(inner))

    for p in problems:
        print(p)
    return 1 if problems else 0


if __name__ == "__main__":
    sys.exit(main())
