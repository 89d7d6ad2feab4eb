"""The local Dagster instance's SQLite storage with its connections kept (deploy/dagster.yaml names it).

Dagster's SQLite event log opens a new SQLAlchemy engine and connection for every statement batch and
disposes of it after (4,500 of them for the ~700 events of one daily run: ~4 s of a 34 s next day on
the 30-day demo). This keeps one small pool per database file (a run's shard, the index), the few
most recently used, so a run's events reuse open connections. Same files, same layout, same tables:
an instance written by Dagster's own class reads here and the other way round. Only the local
SQLite instance uses it; deploy/dagster-postgres.yaml keeps Dagster's PostgreSQL storage. Its base_dir is
DAGSTER_HOME (`env: DAGSTER_HOME` in the yaml), which the CLI, `dagster dev`, the webserver and the daemon
always set; a script opening the instance by directory sets it too (tests/conftest.py cli_instance)."""

from __future__ import annotations

import os
from collections import OrderedDict
from collections.abc import Iterator
from contextlib import contextmanager

from dagster._core.storage.event_log.sqlite.sqlite_event_log import SQLITE_BUSY_TIMEOUT_SECONDS, SqliteEventLogStorage
from dagster._core.storage.sqlite_storage import DagsterSqliteStorage, _event_logs_directory
from sqlalchemy import Connection, Engine, create_engine

# Database files with an open pool at a time: a run writes its own shard and the index; the webserver
# reads a few runs at once. Evicted pools close their connections.
MAX_OPEN_SHARDS = 8


def _file_id(path: str) -> tuple[int, int] | None:
    """The file at path (device, inode), None when there is none."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return None
    return st.st_dev, st.st_ino


class PooledSqliteEventLogStorage(SqliteEventLogStorage):
    """SqliteEventLogStorage whose per-file engines (one connection each, kept open) are reused."""

    def __init__(self, base_dir: str, inst_data=None) -> None:  # noqa: ANN001 - Dagster's ConfigurableClassData
        self._engines: OrderedDict[str, tuple[Engine, tuple[int, int] | None]] = OrderedDict()
        super().__init__(base_dir, inst_data)

    def _engine(self, shard: str) -> Engine:
        """The shard's engine, created on first use and again when its file was replaced or deleted (as
        Dagster's, which opens the path anew each time); the least recently used beyond MAX_OPEN_SHARDS closed."""
        path = self.path_for_shard(shard)
        engine, opened = self._engines.pop(shard, (None, None))
        if engine is not None and _file_id(path) != opened:
            # a kept connection still has the old file open: writes there would be lost, reads stale
            engine.dispose()
            engine = None
        if engine is None:
            # QueuePool (SQLAlchemy's default for a SQLite file): a connection may serve another thread
            # later, as Dagster's watcher threads read; _connect's lock keeps one user at a time.
            engine = create_engine(self.conn_string_for_shard(shard), pool_size=1, max_overflow=2,
                                   connect_args={"timeout": SQLITE_BUSY_TIMEOUT_SECONDS})
            with engine.connect():  # opens (creates) the file the kept connection holds
                opened = _file_id(path)
        self._engines[shard] = (engine, opened)
        while len(self._engines) > MAX_OPEN_SHARDS:
            self._engines.popitem(last=False)[1][0].dispose()
        return engine

    @contextmanager
    def _connect(self, shard: str) -> Iterator[Connection]:
        """Dagster's _connect (a transaction on the shard's database under the storage's lock) on a kept engine."""
        with self._db_lock:
            engine = self._engine(shard)
            if shard not in self._initialized_dbs:
                self._initdb(engine)
                self._initialized_dbs.add(shard)
            with engine.connect() as conn, conn.begin():
                yield conn

    def _close_engines(self) -> None:
        with self._db_lock:
            while self._engines:
                self._engines.popitem()[1][0].dispose()

    def wipe(self) -> None:
        """Close every pool before the run shards' files are deleted (a kept connection would write to a
        deleted file)."""
        self._close_engines()
        super().wipe()

    def dispose(self) -> None:
        self._close_engines()
        super().dispose()


class PooledSqliteStorage(DagsterSqliteStorage):
    """DagsterSqliteStorage (runs, event logs and schedules under base_dir, Dagster's layout) with the
    pooled event log."""

    def __init__(self, base_dir: str, inst_data=None) -> None:  # noqa: ANN001 - Dagster's ConfigurableClassData
        base_dir = os.path.abspath(base_dir)
        super().__init__(base_dir, inst_data)
        self._event_log_storage = PooledSqliteEventLogStorage(_event_logs_directory(base_dir))

    @classmethod
    def from_config_value(cls, inst_data, config_value) -> PooledSqliteStorage:  # noqa: ANN001
        return cls.from_local(inst_data=inst_data, **config_value)
