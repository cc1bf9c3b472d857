"""A throwaway PostgreSQL cluster for the test session: initdb into a temp dir, a free loopback port.

PostgreSQL refuses to run as root, so as root the server runs as the ``postgres`` system
user (created by Debian's package). Set ``CANARY_TEST_POSTGRES_URL`` to use an existing
server instead.
"""

from __future__ import annotations

import glob
import os
import shutil
import socket
import subprocess
import tempfile
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


class PostgresUnavailable(RuntimeError):
    pass


def _bin(name: str) -> str:
    candidates = sorted(glob.glob(f"/usr/lib/postgresql/*/bin/{name}"), reverse=True)
    found = candidates[0] if candidates else shutil.which(name)
    if not found:
        raise PostgresUnavailable(
            f"PostgreSQL's {name} was not found: run `make test` (it installs the postgresql package)"
        )
    return found


def remove_in_background(folder: str) -> None:
    """Delete ``folder`` in a process of its own. A session's cluster holds a copy of the migrated database
    per test (hundreds of megabytes to gigabytes); removing it kept the session from ending for seconds."""
    rm = shutil.which("rm")
    if not rm:
        shutil.rmtree(folder, ignore_errors=True)
        return
    subprocess.Popen([rm, "-rf", "--", folder], stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL,
                     stderr=subprocess.DEVNULL, start_new_session=True)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


class PostgresCluster:
    def __init__(self) -> None:
        self.tmp = tempfile.mkdtemp(prefix="canary-pg-")
        self.data = os.path.join(self.tmp, "data")
        self.port = _free_port()
        self._as_user: list[str] = []
        if os.geteuid() == 0:
            runuser = shutil.which("runuser")
            if not runuser:
                raise PostgresUnavailable("running as root without runuser: cannot start PostgreSQL")
            self._as_user = [runuser, "-u", "postgres", "--"]
            shutil.chown(self.tmp, "postgres")
            os.chmod(self.tmp, 0o700)

    def _run(self, *args: str) -> None:
        proc = subprocess.run([*self._as_user, *args], capture_output=True, text=True, timeout=120)
        if proc.returncode != 0:
            raise PostgresUnavailable(f"{os.path.basename(args[0])} failed: {proc.stderr.strip()[-2000:]}")

    def start(self) -> PostgresCluster:
        self._run(_bin("initdb"), "-D", self.data, "-U", "canary", "--auth=trust", "-E", "UTF8",
                  "--locale=C", "-N")
        opts = (f"-p {self.port} -k {self.tmp} -c listen_addresses=127.0.0.1 -c fsync=off "
                "-c synchronous_commit=off -c full_page_writes=off -c max_connections=200")
        self._run(_bin("pg_ctl"), "-D", self.data, "-o", opts, "-l", os.path.join(self.tmp, "log"),
                  "-w", "-t", "60", "start")
        return self

    def stop(self) -> None:
        try:
            self._run(_bin("pg_ctl"), "-D", self.data, "-m", "immediate", "-w", "stop")
        finally:
            remove_in_background(self.tmp)

    @property
    def admin_url(self) -> str:
        return f"postgresql://canary@127.0.0.1:{self.port}/postgres"

    def url(self, database: str) -> str:
        return f"postgresql://canary@127.0.0.1:{self.port}/{database}"


def create_database(admin_url: str) -> str:
    """A fresh, empty database on the server; returns its URL."""
    import psycopg

    name = "t_" + uuid.uuid4().hex[:12]
    with psycopg.connect(admin_url, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    return admin_url.rsplit("/", 1)[0] + "/" + name


@contextmanager
def postgres_server() -> Iterator[str]:
    """Yields an admin URL: an existing server's or a fresh cluster's."""
    existing = os.environ.get("CANARY_TEST_POSTGRES_URL")
    if existing:
        yield existing
        return
    cluster = PostgresCluster().start()
    try:
        yield cluster.admin_url
    finally:
        cluster.stop()
