"""Runs moto's SES v2 tests (tests/test_sesv2/test_sesv2.py of moto's source
distribution, the version pinned in tests/compat/requirements.txt) against optbox.

    OPTBOX_BIN=target/debug/optbox target/compat-venv/bin/python \\
        tests/compat/moto/run_sesv2.py --backend sqlite [--moto-src DIR]

Every test runs on its own optbox server, database and key (optbox_moto.py). The tests
named in out_of_scope.txt are deselected; every name there must exist in the file, and
every other test must pass: a failure, an error or a skip fails the run.
"""

import argparse
import ast
import importlib.metadata
import json
import os
import re
import subprocess
import sys
import tempfile
import time

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
REQUIREMENTS = os.path.join(HERE, "..", "requirements.txt")
OUT_OF_SCOPE = os.path.join(HERE, "out_of_scope.txt")
TEST_FILE = "tests/test_sesv2/test_sesv2.py"
SETUP_HINT = "run `make compat` to install moto and fetch its source distribution"


def fail(msg):
    print(f"run_sesv2: {msg}", file=sys.stderr)
    sys.exit(1)


def pinned_moto_version():
    with open(REQUIREMENTS) as f:
        for line in f:
            m = re.match(r"^\s*moto(\[[^\]]*\])?==([^\s;#]+)", line)
            if m:
                return m.group(2)
    fail(f"{REQUIREMENTS} pins no moto version")


def test_names(path):
    with open(path) as f:
        tree = ast.parse(f.read(), path)
    return [
        n.name
        for n in tree.body
        if isinstance(n, ast.FunctionDef) and n.name.startswith("test")
    ]


def read_out_of_scope():
    """`test_name — reason` per line; blank lines and `#` comments are ignored."""
    listed = {}
    with open(OUT_OF_SCOPE, encoding="utf-8") as f:
        for no, line in enumerate(f, 1):
            line = line.strip()
            if not line or line.startswith("#"):
                continue
            name, sep, reason = line.partition(" — ")
            name, reason = name.strip(), reason.strip()
            if not sep or not re.fullmatch(r"test\w*", name) or not reason:
                fail(f"out_of_scope.txt:{no}: expected `test_name — reason`, got {line!r}")
            if name in listed:
                fail(f"out_of_scope.txt:{no}: {name} is listed twice")
            listed[name] = reason
    return listed


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--backend", choices=["sqlite", "postgres"], required=True)
    ap.add_argument("--moto-src", help="the extracted sdist (default: target/moto-src/moto-VERSION)")
    args = ap.parse_args()

    version = pinned_moto_version()
    try:
        installed = importlib.metadata.version("moto")
    except importlib.metadata.PackageNotFoundError:
        fail(f"moto is not installed in {sys.prefix}: {SETUP_HINT}")
    if installed != version:
        fail(f"moto {installed} is installed, {version} is pinned: {SETUP_HINT}")
    src = os.path.abspath(args.moto_src or os.path.join(REPO, "target", "moto-src", f"moto-{version}"))
    test_file = os.path.join(src, TEST_FILE)
    if not os.path.isfile(test_file):
        fail(f"{test_file} is missing: {SETUP_HINT}")
    binary = os.environ.get("OPTBOX_BIN")
    if not binary or not os.access(binary, os.X_OK):
        fail(f"OPTBOX_BIN must name the optbox binary (got {binary!r})")

    names = test_names(test_file)
    listed = read_out_of_scope()
    unknown = sorted(set(listed) - set(names))
    if unknown:
        fail(f"out_of_scope.txt names tests that {TEST_FILE} does not have: {', '.join(unknown)}")
    in_scope = [n for n in names if n not in listed]

    env = {k: v for k, v in os.environ.items() if not k.startswith("AWS_")}
    env.update(
        TEST_SERVER_MODE="true",
        # Each test gets a new server and database; moto's reset endpoint is not optbox's.
        MOTO_CALL_RESET_API="false",
        OPTBOX_BIN=os.path.abspath(binary),
        OPTBOX_MOTO_BACKEND=args.backend,
        PYTHONPATH=os.pathsep.join(p for p in [HERE, env.get("PYTHONPATH")] if p),
        PYTHONDONTWRITEBYTECODE="1",
        # Not the working directory first on sys.path: `moto` is the installed package,
        # not the source distribution's copy in the directory the tests run from.
        PYTHONSAFEPATH="1",
        # Keep the user's own AWS configuration out of the run.
        AWS_CONFIG_FILE="/nonexistent/optbox-moto-config",
        AWS_SHARED_CREDENTIALS_FILE="/nonexistent/optbox-moto-credentials",
        AWS_EC2_METADATA_DISABLED="true",
    )
    with tempfile.TemporaryDirectory(prefix="optbox-moto-run-") as tmp:
        report_path = os.path.join(tmp, "report.json")
        env["OPTBOX_MOTO_REPORT"] = report_path
        cmd = [
            sys.executable, "-m", "pytest",
            "-p", "no:cacheprovider", "-p", "optbox_moto",
            "-q", "-o", "addopts=", "--color=no", "-rfEs",
            TEST_FILE,
        ]
        for name in listed:
            cmd += ["--deselect", f"{TEST_FILE}::{name}"]
        started = time.monotonic()
        sys.stdout.flush()
        rc = subprocess.run(cmd, cwd=src, env=env).returncode
        elapsed = time.monotonic() - started
        try:
            with open(report_path) as f:
                outcomes = json.load(f)
        except (OSError, ValueError):
            fail(f"pytest exited with {rc} and wrote no report")

    passed = {o["name"] for o in outcomes if o["when"] == "call" and o["outcome"] == "passed"}
    bad = sorted({f"{o['name']} ({o['when']}: {o['outcome']})" for o in outcomes if o["outcome"] != "passed"})
    ran_listed = sorted({o["name"] for o in outcomes} & set(listed))
    missing = [n for n in in_scope if n not in passed]
    print(
        f"moto {version} SES v2 on {args.backend}: {len(passed)} of {len(in_scope)} in-scope tests passed, "
        f"{len(listed)} out of scope, {elapsed:.1f}s"
    )
    problems = []
    if bad:
        problems.append("not passed: " + ", ".join(bad))
    if missing:
        problems.append("in scope but did not pass: " + ", ".join(missing))
    if ran_listed:
        problems.append("out of scope but ran: " + ", ".join(ran_listed))
    if rc != 0 and not problems:
        problems.append(f"pytest exited with {rc}")
    if problems:
        fail("; ".join(problems))


if __name__ == "__main__":
    main()
