"""pytest plugin: moto's own SES v2 tests in moto's server mode, against a real optbox.

Loaded with `-p optbox_moto` by run_sesv2.py (which sets TEST_SERVER_MODE=true and
MOTO_CALL_RESET_API=false before moto is imported). For every test it

- makes a fresh database (SQLite: a file in a temporary directory; PostgreSQL: a new
  database on the server OPTBOX_TEST_PG_URL names),
- creates an API key on it with `optbox keys create --json`,
- starts `optbox serve` (the binary OPTBOX_BIN) on a free loopback port with a small
  configuration file and a generated api_key_master, and waits for /healthz,
- points moto's server mode at it, with the key's real credentials in place of moto's
  fake ones (optbox verifies every SigV4 signature),

and after the test stops the server and drops the database. Nothing in moto's files
changes: `MockAWS.start` is wrapped so that the `@mock_aws` instances (made when the test
module is imported, before any server exists) take the current test's endpoint and key.
"""

import json
import os
import secrets
import shutil
import signal
import subprocess
import tempfile
import time
import urllib.request

import pytest

from moto import settings as moto_settings
from moto.core import models as moto_models

BACKENDS = ("sqlite", "postgres")
START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

# What the current test's server is: set by the fixture, read by the patched start().
_current = {"endpoint": None, "key_id": None, "secret": None}
# Outcomes of every test phase, for the runner (OPTBOX_MOTO_REPORT).
_outcomes = []


def _patch_moto():
    if not moto_settings.TEST_SERVER_MODE:
        raise pytest.UsageError(
            "optbox_moto needs TEST_SERVER_MODE=true in the environment before moto is imported"
        )
    original_start = moto_models.MockAWS.start

    def start(self, *args, **kwargs):
        if _current["key_id"] is None:
            raise RuntimeError("mock_aws started outside a test: no optbox server is running")
        self._fake_creds = {
            "AWS_ACCESS_KEY_ID": _current["key_id"],
            "AWS_SECRET_ACCESS_KEY": _current["secret"],
        }
        if isinstance(self, moto_models.ServerModeMockAWS):
            self._test_server_mode_endpoint = _current["endpoint"]
        return original_start(self, *args, **kwargs)

    moto_models.MockAWS.start = start


def _child_env():
    """The environment of optbox's processes: no OPTBOX_* variable (they would override
    the configuration file), no AWS settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("OPTBOX_", "AWS_"))}
    env["OPTBOX_LOG"] = "info,sqlx=warn,tower_sessions=warn"
    return env


class _Database:
    def __init__(self, backend, tmp):
        self.backend = backend
        self.pg_name = None
        if backend == "sqlite":
            self.url = f"sqlite://{os.path.join(tmp, 'optbox.db')}"
        else:
            self.admin = os.environ.get(
                "OPTBOX_TEST_PG_URL", "postgres://postgres@127.0.0.1:5432/postgres"
            )
            self.pg_name = f"optbox_moto_{secrets.token_hex(6)}"
            self._psql(f"CREATE DATABASE {self.pg_name}")
            base = self.admin.rsplit("/", 1)[0]
            self.url = f"{base}/{self.pg_name}"

    def _psql(self, sql):
        try:
            r = subprocess.run(
                ["psql", self.admin, "-v", "ON_ERROR_STOP=1", "-q", "-c", sql],
                capture_output=True,
                text=True,
                timeout=60,
            )
        except FileNotFoundError:
            raise RuntimeError("the PostgreSQL run needs psql (apt-get install postgresql-client)") from None
        if r.returncode != 0:
            raise RuntimeError(f"psql {self.admin} -c {sql!r} failed: {r.stderr.strip()}")

    def drop(self):
        if self.pg_name:
            self._psql(f"DROP DATABASE IF EXISTS {self.pg_name} WITH (FORCE)")


class _Server:
    def __init__(self, binary, tmp, db_url):
        self.binary = binary
        self.log_path = os.path.join(tmp, "optbox.log")
        self.config = os.path.join(tmp, "optbox.toml")
        imports = os.path.join(tmp, "imports")
        os.mkdir(imports)
        # Dev mode keeps its token and session keys in the database and listens on
        # loopback only; the API master key is generated here, per test. SES refuses a
        # From outside the verified identities, and so does this server.
        with open(self.config, "w") as f:
            f.write(
                "\n".join(
                    [
                        'mode = "dev"',
                        f"database_url = {json.dumps(db_url)}",
                        'listen = "127.0.0.1:0"',
                        'smtp_listen = "127.0.0.1:0"',
                        f"api_key_master = {json.dumps(secrets.token_hex(32))}",
                        f"import_dir = {json.dumps(imports)}",
                        'log_format = "json"',
                        "require_verified_identity = true",
                        "",
                    ]
                )
            )
        self.proc = None
        self.endpoint = None

    def _cli(self, *args):
        r = subprocess.run(
            [self.binary, "--config", self.config, *args],
            capture_output=True,
            text=True,
            env=_child_env(),
            timeout=60,
        )
        if r.returncode != 0:
            raise RuntimeError(f"optbox {' '.join(args)} failed: {r.stderr.strip()}")
        return r.stdout

    def create_key(self):
        out = self._cli("keys", "create", "--json", "--description", "moto")
        try:
            key = json.loads(out)
            return key["AccessKeyId"], key["SecretAccessKey"]
        except (ValueError, KeyError, TypeError):
            raise RuntimeError(f"optbox keys create --json printed no key: {out!r}") from None

    def start(self):
        log = open(self.log_path, "w")
        self.proc = subprocess.Popen(
            [self.binary, "--config", self.config, "serve"],
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=log,
            env=_child_env(),
            start_new_session=True,
        )
        log.close()
        deadline = time.monotonic() + START_TIMEOUT
        addr = None
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise RuntimeError(f"optbox serve exited with {self.proc.returncode}:\n{self.log()}")
            addr = addr or self._listening_addr()
            if addr and self._healthy(addr):
                self.endpoint = f"http://{addr}"
                return
            time.sleep(0.05)
        raise RuntimeError(f"optbox serve did not answer /healthz in {START_TIMEOUT}s:\n{self.log()}")

    def _listening_addr(self):
        for line in self.log().splitlines():
            try:
                rec = json.loads(line)
            except ValueError:
                continue
            fields = rec.get("fields", {})
            if fields.get("message") == "optbox is listening":
                return fields.get("addr")
        return None

    @staticmethod
    def _healthy(addr):
        try:
            with urllib.request.urlopen(f"http://{addr}/healthz", timeout=2) as r:
                return r.status == 200
        except OSError:
            return False

    def log(self):
        try:
            with open(self.log_path, errors="replace") as f:
                return f.read()
        except OSError:
            return ""

    def stop(self):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()


def pytest_configure(config):
    _patch_moto()
    backend = os.environ.get("OPTBOX_MOTO_BACKEND", "sqlite")
    if backend not in BACKENDS:
        raise pytest.UsageError(f"OPTBOX_MOTO_BACKEND must be one of {BACKENDS}, not {backend!r}")
    binary = os.environ.get("OPTBOX_BIN")
    if not binary or not os.access(binary, os.X_OK):
        raise pytest.UsageError(f"OPTBOX_BIN must name the optbox binary (got {binary!r})")


@pytest.fixture(autouse=True)
def optbox_server():
    """A fresh database, key and `optbox serve` for one test."""
    import boto3

    backend = os.environ.get("OPTBOX_MOTO_BACKEND", "sqlite")
    tmp = tempfile.mkdtemp(prefix="optbox-moto-")
    db = _Database(backend, tmp)
    server = _Server(os.environ["OPTBOX_BIN"], tmp, db.url)
    try:
        key_id, secret = server.create_key()
        server.start()
        _current.update(endpoint=server.endpoint, key_id=key_id, secret=secret)
        os.environ["TEST_SERVER_MODE_ENDPOINT"] = server.endpoint
        # tests/__init__.py keeps boto3's default session across tests, and a session
        # keeps the credentials it first resolved: each test's key needs a new one.
        boto3.DEFAULT_SESSION = None
        yield server
    finally:
        _current.update(endpoint=None, key_id=None, secret=None)
        os.environ.pop("TEST_SERVER_MODE_ENDPOINT", None)
        boto3.DEFAULT_SESSION = None
        server.stop()
        db.drop()
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item, call):
    report = yield
    server = item.funcargs.get("optbox_server") if hasattr(item, "funcargs") else None
    if report.failed and server is not None:
        report.sections.append(("optbox log", server.log()))
    return report


def pytest_runtest_logreport(report):
    if report.when == "call" or report.outcome != "passed":
        _outcomes.append(
            {"name": report.nodeid.split("::")[-1], "when": report.when, "outcome": report.outcome}
        )


def pytest_sessionfinish(session, exitstatus):
    path = os.environ.get("OPTBOX_MOTO_REPORT")
    if path:
        with open(path, "w") as f:
            json.dump(_outcomes, f)
