"""Atomic writes: nothing half-written, leftovers of killed writers cleaned, failures name the file."""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from mnistfiles import io as mio
from mnistfiles.io import atomic_open, atomic_path, describe_os_error, read_json, remove_stale_temporaries, write_json

KILLED_WRITER = """
import sys, time
from mnistfiles.io import atomic_path
with atomic_path(sys.argv[1]) as tmp:
    tmp.write_bytes(b"x" * 100_000)
    print(tmp, flush=True)
    time.sleep(600)
"""


def temporaries(folder: Path) -> list[Path]:
    return sorted(folder.glob(".*.tmp"))


def test_write_json_is_atomic_and_leaves_nothing(tmp_path: Path) -> None:
    target = tmp_path / "sub" / "r.json"
    write_json(target, {"a": "±"})
    assert read_json(target) == {"a": "±"} and temporaries(target.parent) == []
    with pytest.raises(RuntimeError), atomic_open(target) as handle:
        handle.write("half")
        raise RuntimeError("stopped mid-write")
    assert read_json(target) == {"a": "±"} and temporaries(target.parent) == []


def test_leftovers_of_a_killed_writer_are_cleaned_on_the_next_write(tmp_path: Path) -> None:
    """Issue 12.8: SIGKILL during a write leaves `.NAME.*.tmp`; the next write to NAME removes it."""
    target = tmp_path / "run.pt"
    writer = subprocess.Popen([sys.executable, "-c", KILLED_WRITER, str(target)], stdout=subprocess.PIPE, text=True)
    assert writer.stdout is not None
    left = Path(writer.stdout.readline().strip())  # the writer is inside the block now
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    assert left.exists() and temporaries(tmp_path) == [left] and not target.exists()
    other = tmp_path / "other.json"  # another name's temp file is not this write's business
    write_json(other, 1)
    assert left.exists()
    with atomic_path(target) as tmp:
        tmp.write_bytes(b"new")
    assert target.read_bytes() == b"new" and temporaries(tmp_path) == []


def test_only_stale_temporaries_are_removed(tmp_path: Path) -> None:
    target = tmp_path / "r.json"
    live = tmp_path / f".r.json.{os.getppid()}.abcd1234.tmp"  # a writer that still runs
    legacy_fresh = tmp_path / ".r.json.k3j_x9q2.tmp"  # no pid in the name, just written: maybe in use
    legacy_old = tmp_path / ".r.json.zz81_q0w.tmp"
    similar = tmp_path / ".r.json.gz.1.abcd1234.tmp"  # belongs to r.json.gz
    for path in (live, legacy_fresh, legacy_old, similar):
        path.write_bytes(b"partial")
    hours_ago = time.time() - mio.STALE_AFTER_S - 60
    os.utime(legacy_old, (hours_ago, hours_ago))
    assert remove_stale_temporaries(target) == [legacy_old]
    assert live.exists() and legacy_fresh.exists() and similar.exists()
    os.utime(live, (hours_ago, hours_ago))
    assert remove_stale_temporaries(target) == [live]
    impossible = tmp_path / f".r.json.{'9' * 30}.abcd1234.tmp"  # a pid no process can have: gone, not a crash
    impossible.write_bytes(b"partial")
    assert remove_stale_temporaries(target) == [impossible]


def test_full_disk_names_the_file_not_the_temporary(tmp_path: Path) -> None:
    if not Path("/dev/full").exists():
        pytest.skip("no /dev/full to produce a real ENOSPC")
    target = tmp_path / "results" / "r.json"
    with pytest.raises(OSError) as err, atomic_path(target) as tmp, open("/dev/full", "wb") as full:
        tmp.write_bytes(b"begun")
        full.write(b"x" * 1_000_000)
        full.flush()
    assert err.value.errno == errno.ENOSPC and err.value.filename == str(target)
    assert describe_os_error(err.value).startswith(f"{target}: the disk is full")
    assert not target.exists() and temporaries(target.parent) == []
