"""Compute logs mirrored by a thread (dagster_defs/compute_logs.py, named by deploy/dagster.yaml): the log file
gets all the output of the process and its children, the original stream gets the same bytes by the end of
the capture, no process is started for it, and a mirror target that refuses writes costs the mirror only."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import yaml
from conftest import children_of

from dagster_defs.compute_logs import ThreadMirroredComputeLogManager, mirrored_to_file

REPO = Path(__file__).resolve().parents[2]


class FdStream:
    """A stream that is only an fd (as sys.stdout is to the capture: flush, fileno)."""

    def __init__(self, fd: int) -> None:
        self.fd = fd

    def fileno(self) -> int:
        return self.fd

    def flush(self) -> None:
        pass


def test_the_file_and_the_original_target_get_every_byte_of_the_process_and_its_children(tmp_path):
    terminal, log = tmp_path / "terminal", tmp_path / "step.out"
    fd = os.open(terminal, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    stream = FdStream(os.dup(fd))
    big = b"".join(b"line %07d of a long dbt log\n" % i for i in range(60_000))  # ~1.7 MB: many pipe buffers
    before = set(children_of(os.getpid()))  # a test worker's own (its warm dbt server)
    try:
        with mirrored_to_file(stream, str(log)):
            os.write(stream.fd, b"first\n")
            assert set(children_of(os.getpid())) == before  # no tail, no watcher
            subprocess.run(["sh", "-c", "echo from-child; echo child-err 1>&2"], stdout=stream.fd, stderr=stream.fd,
                           check=True)
            for start in range(0, len(big), 1 << 20):
                os.write(stream.fd, big[start:start + (1 << 20)])
            os.write(stream.fd, b"last\n")
        os.write(stream.fd, b"after\n")  # the fd is the terminal's again
    finally:
        os.close(stream.fd)
        os.close(fd)
    expected = b"first\nfrom-child\nchild-err\n" + big + b"last\n"
    assert log.read_bytes() == expected
    assert terminal.read_bytes() == expected + b"after\n"  # the whole mirror at the capture's end, in order


def test_a_capture_appends_to_its_file_and_mirrors_only_what_it_wrote(tmp_path):
    terminal, log = tmp_path / "terminal", tmp_path / "step.err"
    log.write_bytes(b"an earlier attempt\n")
    fd = os.open(terminal, os.O_WRONLY | os.O_CREAT)
    try:
        with mirrored_to_file(FdStream(fd), str(log)):
            os.write(fd, b"retry\n")
    finally:
        os.close(fd)
    assert log.read_bytes() == b"an earlier attempt\nretry\n" and terminal.read_bytes() == b"retry\n"


def test_a_mirror_target_that_refuses_writes_loses_the_mirror_not_the_file(tmp_path):
    read_end, write_end = os.pipe()
    os.close(read_end)  # the terminal went away: every write to it fails (EPIPE; Python ignores SIGPIPE)
    log = tmp_path / "step.out"
    started = time.monotonic()
    try:
        with mirrored_to_file(FdStream(write_end), str(log)):
            for i in range(1000):
                os.write(write_end, b"x%04d\n" % i)
    finally:
        os.close(write_end)
    assert log.read_bytes() == b"".join(b"x%04d\n" % i for i in range(1000))
    assert time.monotonic() - started < 5


def test_a_stream_without_an_fd_is_not_captured(tmp_path):
    class NoFd:
        def fileno(self) -> int:
            raise ValueError("no fd")

    with mirrored_to_file(NoFd(), str(tmp_path / "x.out")):
        pass
    assert not (tmp_path / "x.out").exists()


RUN = textwrap.dedent("""
    import os, shutil, subprocess, sys
    from pathlib import Path
    import dagster as dg

    home = Path(sys.argv[1])
    home.mkdir()
    shutil.copy(sys.argv[2], home / "dagster.yaml")
    os.environ["DAGSTER_HOME"] = str(home)

    @dg.asset
    def talkative() -> int:
        print("to stdout", flush=True)
        print("to stderr", file=sys.stderr, flush=True)
        subprocess.run(["sh", "-c", "echo from a child"], check=True)
        kids = [p.name for p in Path("/proc").glob("[0-9]*") if p.joinpath("stat").exists()
                and int(p.joinpath("stat").read_text().rsplit(")", 1)[1].split()[1]) == os.getpid()]
        print("children during the step:", len(kids), flush=True)
        return 1

    with dg.DagsterInstance.get() as instance:
        result = dg.materialize([talkative], instance=instance)
        manager = instance.compute_log_manager
        captured = [e.dagster_event.logs_captured_data for e in instance.all_logs(result.run_id)
                    if e.dagster_event and e.dagster_event.event_type_value == "LOGS_CAPTURED"]
        key = [result.run_id, "compute_logs", captured[0].file_key]
        data = manager.get_log_data(key)
        print("MANAGER", type(manager).__name__, manager.is_capture_complete(key), file=sys.stderr)
        print("UI-OUT", repr(data.stdout.decode()), file=sys.stderr)
        print("UI-ERR", repr(data.stderr.decode()), file=sys.stderr)
        print("FILES", sorted(str(p.relative_to(home)) for p in home.rglob("compute_logs/*")), file=sys.stderr)
""")


def test_the_deploy_instance_captures_a_runs_output_for_the_ui_and_mirrors_it_without_processes(tmp_path):
    proc = subprocess.run([sys.executable, "-c", RUN, str(tmp_path / "home"), str(REPO / "deploy" / "dagster.yaml")],
                          capture_output=True, text=True, timeout=120, cwd=REPO)
    assert proc.returncode == 0, proc.stderr[-3000:]
    report = dict(line.split(" ", 1) for line in proc.stderr.splitlines() if line.split(" ", 1)[0] in
                  ("MANAGER", "UI-OUT", "UI-ERR", "FILES"))
    assert report["MANAGER"] == "ThreadMirroredComputeLogManager True"
    ui_out, ui_err = eval(report["UI-OUT"]), eval(report["UI-ERR"])  # noqa: S307 - our own repr
    assert "to stdout\n" in ui_out and "from a child\n" in ui_out and "children during the step: 0" in ui_out
    assert "to stderr\n" in ui_err
    assert "'storage/" in report["FILES"]  # <instance root>/storage: where Dagster's default manager keeps them
    # the mirror: the run's own stdout and stderr carry the same lines
    assert "to stdout\n" in proc.stdout and "from a child\n" in proc.stdout and "to stderr\n" in proc.stderr


def test_both_deploy_files_name_the_thread_mirrored_manager_without_settings():
    for name in ("dagster.yaml", "dagster-postgres.yaml"):
        section = yaml.safe_load((REPO / "deploy" / name).read_text())["compute_logs"]
        assert section["class"] == ThreadMirroredComputeLogManager.__name__, name
        assert "config" not in section, name  # the directory is the instance's: nothing read from the environment


def mirror_threads() -> list[str]:
    import threading

    return [t.name for t in threading.enumerate() if t.name.startswith("compute-log-mirror")]


def test_a_pipe_nobody_reads_costs_the_mirror_not_the_run_and_leaves_no_thread(tmp_path):
    """The original stdout is a pipe whose reader never reads (a stalled log reader): the capture still ends
    promptly, the file has every byte, and the mirror's thread is gone (it stopped on the stall)."""
    from dagster_defs.compute_logs import STALL_SECONDS

    read_end, write_end = os.pipe()  # 64 KiB of buffer, then every write would block
    log = tmp_path / "step.out"
    payload = b"".join(b"row %06d\n" % i for i in range(50_000))  # ~550 KB
    started = time.monotonic()
    try:
        with mirrored_to_file(FdStream(write_end), str(log)):
            for i in range(0, len(payload), 1 << 16):
                os.write(write_end, payload[i:i + (1 << 16)])
        took = time.monotonic() - started
        deadline = time.monotonic() + 3 * STALL_SECONDS
        while mirror_threads() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert mirror_threads() == []
    finally:
        os.close(read_end)
        os.close(write_end)
    assert log.read_bytes() == payload
    assert took < 3 * STALL_SECONDS + 1, took


def test_a_mirror_that_fails_to_read_its_file_leaves_the_terminal_fd_to_the_capture(tmp_path, monkeypatch):
    """The follower cannot open the log file (too many open files, an I/O error): the capture's own copy of the
    terminal's fd is untouched, so leaving it points the stream back at the terminal (no EBADF, no write meant
    for the terminal landing in a file that reused the fd number)."""
    import builtins

    from dagster_defs import compute_logs

    real_open = builtins.open

    def failing_open(file, mode="r", *args, **kwargs):  # noqa: ANN001, ANN002, ANN003, ANN202
        if mode == "rb" and str(file).endswith(".out"):
            raise OSError(24, "Too many open files")
        return real_open(file, mode, *args, **kwargs)

    monkeypatch.setattr(compute_logs, "open", failing_open, raising=False)
    terminal, log, other = tmp_path / "terminal", tmp_path / "step.out", tmp_path / "warehouse.db"
    fd = os.open(terminal, os.O_WRONLY | os.O_CREAT)
    stream = FdStream(os.dup(fd))
    try:
        with mirrored_to_file(stream, str(log)):
            os.write(stream.fd, b"captured\n")
            time.sleep(0.2)  # the follower has failed and ended by now
            spare = os.open(other, os.O_WRONLY | os.O_CREAT)  # would take a freed fd number
        os.write(stream.fd, b"meant for the terminal\n")
        os.close(spare)
    finally:
        os.close(stream.fd)
        os.close(fd)
    assert terminal.read_bytes() == b"meant for the terminal\n" and other.read_bytes() == b""
    assert log.read_bytes() == b"captured\n"
