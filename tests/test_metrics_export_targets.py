"""``starpunk metrics export`` writes into what is there and fails out loud.

Run as a real process, so standard output is a real file descriptor.
"""

from __future__ import annotations

import contextlib
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from metrics_store.store import MetricsStore
from tests.metrics_fixtures import seed_site

HEADER = b"bucket_start,resolution,kind,name,labels,unit,"


@pytest.fixture
def data_path(tmp_path):
    data = tmp_path / "data"
    data.mkdir()
    store = MetricsStore(data / "metrics.db")
    seed_site(store)
    store.close()
    return data


def export(data_path: Path, *args: str, stdout=subprocess.PIPE):
    env = {**os.environ, "STARPUNK_DATA_PATH": str(data_path)}
    command = [str(Path(sys.executable).with_name("starpunk")), "metrics", "export"]
    return subprocess.run(
        [*command, "--from", "2023-11-14T20:00Z", "--to", "2023-11-14T23:00Z", *args],
        env=env,
        stdout=stdout,
        stderr=subprocess.PIPE,
        timeout=60,
    )


def test_a_symlink_target_is_written_through_and_stays_a_link(data_path, tmp_path):
    target = tmp_path / "real.csv"
    target.write_text("old")
    link = tmp_path / "link.csv"
    link.symlink_to(target)

    result = export(data_path, "--output", str(link))

    assert result.returncode == 0, result.stderr
    assert link.is_symlink()
    assert target.read_bytes().startswith(HEADER)


def test_an_existing_files_permissions_are_kept(data_path, tmp_path):
    private = tmp_path / "private.csv"
    private.write_text("old")
    private.chmod(0o600)

    assert export(data_path, "--output", str(private)).returncode == 0

    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    assert private.read_bytes().startswith(HEADER)


def test_a_named_pipe_is_written_into_not_replaced(data_path, tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()))
    reader.start()

    result = export(data_path, "--output", str(fifo))
    reader.join(timeout=30)

    assert result.returncode == 0, result.stderr
    assert stat.S_ISFIFO(fifo.stat().st_mode)
    assert received[0].startswith(HEADER)


@contextlib.contextmanager
def tiny_disk(path: Path):
    path.mkdir()
    mount = ["mount", "-t", "tmpfs", "-o", "size=4k", "tmpfs", str(path)]
    subprocess.run(mount, check=True)
    try:
        yield path
    finally:
        subprocess.run(["umount", "-l", str(path)], check=False)


@pytest.mark.parametrize("to_stdout", [True, False], ids=["stdout", "output"])
def test_a_full_disk_is_an_error_not_a_truncated_export(data_path, tmp_path, to_stdout):
    with tiny_disk(tmp_path / "tiny") as disk:
        target = disk / "export.csv"
        if to_stdout:
            with open(target, "wb") as handle:
                result = export(data_path, stdout=handle)
        else:
            result = export(data_path, "--output", str(target))
    assert result.returncode == 1
    assert b"No space left on device" in result.stderr
    assert b"Traceback" not in result.stderr
