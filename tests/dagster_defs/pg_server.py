"""A throwaway PostgreSQL server for tests: initdb in a temp dir, `postgres` on a free local port with
password (scram) authentication, a database for Dagster; stopped and deleted on exit. PostgreSQL
refuses to run as root, so under root the server runs as `nobody`, which owns the temp dir."""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

USER, PASSWORD, DB = "blofin", "pg-test-password", "dagster"
UNPRIVILEGED = "nobody"


def postgres_bin_dir() -> Path | None:
    """The newest /usr/lib/postgresql/N/bin holding initdb and postgres, else the PATH's; None if neither."""
    dirs = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda d: int(Path(d).parent.name)
                  if Path(d).parent.name.isdigit() else 0)
    for d in reversed(dirs):
        if (Path(d) / "postgres").exists() and (Path(d) / "initdb").exists():
            return Path(d)
    found = shutil.which("initdb")
    return Path(found).parent if found and (Path(found).parent / "postgres").exists() else None


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run_as() -> dict:
    """subprocess keyword arguments that drop root to the unprivileged user; none for other users."""
    if os.geteuid() != 0:
        return {}
    entry = pwd.getpwnam(UNPRIVILEGED)
    return {"user": entry.pw_uid, "group": entry.pw_gid, "extra_groups": []}


def wait_ready(port: int, proc: subprocess.Popen, log: Path, timeout: float = 30.0) -> None:
    """Until the server accepts a login to the `postgres` database (or fail with its log)."""
    import psycopg2

    deadline = time.monotonic() + timeout
    while True:
        try:
            psycopg2.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname="postgres").close()
            return
        except psycopg2.OperationalError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError(f"postgres did not start: {log.read_text()[-2000:]}") from None
            time.sleep(0.2)


@contextmanager
def postgres_server(bin_dir: Path) -> Iterator[dict[str, str]]:
    """A running server with database DB owned by USER; yields the DAGSTER_PG_* environment for it."""
    import psycopg2

    root = Path(tempfile.mkdtemp(prefix="blofin-pg-"))
    drop = run_as()
    if drop:
        os.chown(root, drop["user"], drop["group"])
    data, pwfile, log, port = root / "data", root / "pwfile", root / "postgres.log", free_port()
    pwfile.write_text(PASSWORD + "\n")
    if drop:
        os.chown(pwfile, drop["user"], drop["group"])
    proc = None
    try:
        subprocess.run([str(bin_dir / "initdb"), "-D", str(data), "-U", USER, "--auth=scram-sha-256",
                        f"--pwfile={pwfile}", "-E", "UTF8", "--no-sync"],
                       check=True, capture_output=True, text=True, **drop)
        proc = subprocess.Popen([str(bin_dir / "postgres"), "-D", str(data), "-p", str(port), "-k", str(root),
                                 "-c", "listen_addresses=127.0.0.1", "-c", "fsync=off", "-c", "max_connections=200"],
                                stdout=log.open("w"), stderr=subprocess.STDOUT, **drop)
        wait_ready(port, proc, log)
        con = psycopg2.connect(host="127.0.0.1", port=port, user=USER, password=PASSWORD, dbname="postgres")
        con.autocommit = True
        con.cursor().execute(f"CREATE DATABASE {DB}")
        con.close()
        yield {"DAGSTER_PG_HOST": "127.0.0.1", "DAGSTER_PG_PORT": str(port), "DAGSTER_PG_USER": USER,
               "DAGSTER_PG_PASSWORD": PASSWORD, "DAGSTER_PG_DB": DB}
    finally:
        if proc is not None:
            proc.send_signal(2)  # SIGINT: fast shutdown (ends open sessions)
            try:
                proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        shutil.rmtree(root, ignore_errors=True)
