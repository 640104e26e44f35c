"""One SQLite cache file shared by real processes; a writer killed with SIGKILL leaves it readable."""

from __future__ import annotations

import os
import signal
import sqlite3
import subprocess
import sys
import textwrap
import time

import pytest

from reward_judge.cache import JudgeCache

pytestmark = pytest.mark.process

WRITER = textwrap.dedent("""
    import sys
    from reward_judge.cache import JudgeCache
    path, worker, count = sys.argv[1], sys.argv[2], int(sys.argv[3])
    cache = JudgeCache(path, memory_size=0, timeout=60)
    for i in range(count):
        key = f"{worker}-{i}"
        cache.put(key, {"score": i, "raw": "x" * 2000 + key, "feedback": "피드백 😀 " + key})
        # read back another worker's rows while they write
        cache.get(f"0-{i}")
    print(cache.stats.write_errors)
""")


def _writer(path, worker, count):
    return subprocess.Popen([sys.executable, "-c", WRITER, str(path), str(worker), str(count)],
                            stdout=subprocess.PIPE, text=True)


def test_concurrent_writers_share_one_file(tmp_path):
    path = tmp_path / "shared.sqlite"
    workers, count = 4, 150
    procs = [_writer(path, w, count) for w in range(workers)]
    outs = [p.communicate(timeout=240)[0] for p in procs]
    assert [p.returncode for p in procs] == [0] * workers
    assert [o.strip() for o in outs] == ["0"] * workers  # no write was lost to a lock
    cache = JudgeCache(path)
    assert len(cache) == workers * count
    for w in range(workers):
        for i in (0, count // 2, count - 1):
            record = cache.get(f"{w}-{i}")
            assert record == {"score": i, "raw": "x" * 2000 + f"{w}-{i}", "feedback": f"피드백 😀 {w}-{i}"}
    assert sqlite3.connect(path).execute("PRAGMA journal_mode").fetchone()[0] == "wal"


@pytest.mark.skipif(not hasattr(signal, "SIGKILL"), reason="needs SIGKILL")
def test_writer_killed_mid_run_leaves_a_readable_file(tmp_path):
    path = tmp_path / "killed.sqlite"
    proc = _writer(path, 0, 1_000_000)  # would run for minutes: it is killed while writing
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if path.exists():
            try:
                rows = sqlite3.connect(path, timeout=30).execute("SELECT COUNT(*) FROM judgments").fetchone()[0]
            except sqlite3.OperationalError:  # the table is being created
                rows = 0
            if rows >= 200:
                break
        time.sleep(0.2)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL

    conn = sqlite3.connect(path)
    assert conn.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
    conn.close()
    cache = JudgeCache(path)
    size = len(cache)
    assert size >= 200
    # every row that is there is whole: its JSON parses and matches its key
    for (key, value) in sqlite3.connect(path).execute("SELECT key, value FROM judgments"):
        record = cache.get(key)
        i = int(key.split("-")[1])
        assert record == {"score": i, "raw": "x" * 2000 + key, "feedback": f"피드백 😀 {key}"}
    # and the file still takes writes
    cache.put("after-kill", {"score": 1})
    assert JudgeCache(path).get("after-kill") == {"score": 1}
