"""Reward cache: an in-memory LRU in front of an optional SQLite file shared by processes.

What is stored is the judge's *answer* for one exact judge input: the verdict fields, the raw output
and, in the score-distribution modes, the answer distribution, keyed by a SHA-256 over the judge
identity, the fully rendered judge input (its text, which already holds the protocol template,
rubric, reference, prompt, completion and chat format, and which of its spans are untrusted), the
protocol's name, version and fingerprint (every field of it: an answer marker that changes where a score
is read changes the key even where the judge input is the same text), and what the scorer says changes
its verdict (the scoring mode, the decoding settings, the attempts allowed). Every mode is cached the
same way. Rewards are recomputed from the cached verdict, so changing ``normalize`` or ``fallback``
never needs a new judge call.

The SQLite file runs in WAL mode: many readers and one writer at a time, writers wait (busy
timeout) instead of failing, and every store is one transaction, so a process killed mid-write
leaves either the whole row or nothing.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
from collections import OrderedDict
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Mapping, Optional, Union

logger = logging.getLogger(__name__)

#: Bumped when the stored record layout changes; part of every key, so old rows simply miss.
CACHE_FORMAT = "2"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS judgments (
    key TEXT PRIMARY KEY,
    value TEXT NOT NULL,
    created REAL NOT NULL
)
"""


def cache_key(identity: str, judge_input: str, protocol: str, protocol_version: str,
              scoring: Mapping[str, Any]) -> str:
    """The key of one judge request: everything that can change the judge's answer.

    ``judge_input`` is `JudgeInput.key` (the rendered text and how it is tokenised); ``scoring`` is
    what the scorer says changes its verdict (mode, decoding settings...).

    Example:
        >>> k1 = cache_key("hf:judge", "Rate this.", "prometheus-v2", "1", {"mode": "generate", "max_new_tokens": 8})
        >>> k2 = cache_key("hf:judge", "Rate this!", "prometheus-v2", "1", {"mode": "generate", "max_new_tokens": 8})
        >>> len(k1), k1 == k2
        (64, False)
    """
    payload = json.dumps(
        {"format": CACHE_FORMAT, "identity": identity, "protocol": protocol, "version": protocol_version,
         "scoring": dict(sorted(scoring.items())), "input": judge_input},
        ensure_ascii=False, sort_keys=True, default=str,
    )
    # surrogatepass: a lone surrogate in a completion must still give a stable key, not a crash
    return hashlib.sha256(payload.encode("utf-8", "surrogatepass")).hexdigest()


@dataclass
class CacheStats:
    """Counters of one `JudgeCache` (``rm.cache.stats``).

    ``hits`` = memory_hits + disk_hits; ``size`` is the number of rows in the file (or in memory
    when there is no file).
    """

    hits: int = 0
    misses: int = 0
    memory_hits: int = 0
    disk_hits: int = 0
    stores: int = 0
    write_errors: int = 0

    def as_dict(self) -> dict[str, int]:
        return dict(self.__dict__)


class JudgeCache:
    """In-memory LRU plus an optional persistent SQLite file.

    Example:
        >>> cache = JudgeCache(None, memory_size=2)
        >>> cache.put("k", {"score": 4, "raw": "[RESULT] 4"})
        >>> cache.get("k")["score"], cache.stats.hits
        (4, 1)
    """

    def __init__(self, path: Union[str, os.PathLike, None] = None, *, memory_size: int = 100_000,
                 timeout: float = 60.0):
        if isinstance(memory_size, bool) or not isinstance(memory_size, int) or memory_size < 0:
            raise ValueError(f"memory_size must be a non-negative integer, got {memory_size!r}")
        self.path = Path(path) if path is not None else None
        self.memory_size = memory_size
        self.timeout = timeout
        self.stats = CacheStats()
        self._memory: "OrderedDict[str, dict[str, Any]]" = OrderedDict()
        self._lock = threading.Lock()
        self._conn: Optional[sqlite3.Connection] = None
        self._pid = os.getpid()
        if self.path is not None:
            if self.path.is_dir():
                raise ValueError(f"cache={str(self.path)!r} is a directory; give a file path such as 'rewards.sqlite'")
            self._connect()

    # ---------------------------------------------------------------- sqlite
    def _connect(self) -> sqlite3.Connection:
        # A connection must not cross fork(): a child (e.g. a DataLoader worker) opens its own.
        if self._conn is None or self._pid != os.getpid():
            assert self.path is not None
            self.path.parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(str(self.path), timeout=self.timeout, isolation_level=None,
                                   check_same_thread=False)
            conn.execute(f"PRAGMA busy_timeout={int(self.timeout * 1000)}")
            conn.execute("PRAGMA journal_mode=WAL")
            # NORMAL in WAL mode: a committed row survives a process crash (only an OS crash can lose
            # the last commits, never corrupt the file)
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute(_SCHEMA)
            self._conn, self._pid = conn, os.getpid()
        return self._conn

    # -------------------------------------------------------------- get / put
    def get(self, key: str) -> Optional[dict[str, Any]]:
        """The stored record for ``key``, or ``None`` (counted as a hit or a miss)."""
        with self._lock:
            record = self._memory.get(key)
            if record is not None:
                self._memory.move_to_end(key)
                self.stats.hits += 1
                self.stats.memory_hits += 1
                return dict(record)
            if self.path is not None:
                row = self._connect().execute("SELECT value FROM judgments WHERE key = ?", (key,)).fetchone()
                if row is not None:
                    record = json.loads(row[0])
                    self._remember(key, record)
                    self.stats.hits += 1
                    self.stats.disk_hits += 1
                    return dict(record)
            self.stats.misses += 1
            return None

    def put(self, key: str, record: Mapping[str, Any]) -> None:
        """Store ``record`` (JSON-serialisable) under ``key``; a failed disk write is logged, not raised."""
        record = dict(record)
        with self._lock:
            self._remember(key, record)
            self.stats.stores += 1
            if self.path is None:
                return
            # ASCII JSON: a lone surrogate in a completion is stored as an escape, SQLite text stays valid UTF-8
            value = json.dumps(record, ensure_ascii=True)
            try:
                # one statement in autocommit mode is one transaction: all of the row or none of it
                self._connect().execute("INSERT OR REPLACE INTO judgments (key, value, created) VALUES (?, ?, ?)",
                                        (key, value, time.time()))
            except sqlite3.Error as exc:  # a full disk or a long lock must not stop training
                self.stats.write_errors += 1
                logger.warning("reward cache write to %s failed (%s): the result is kept in memory only", self.path, exc)

    def _remember(self, key: str, record: dict[str, Any]) -> None:
        if self.memory_size == 0:
            return
        self._memory[key] = record
        self._memory.move_to_end(key)
        while len(self._memory) > self.memory_size:
            self._memory.popitem(last=False)

    # ----------------------------------------------------------------- admin
    def __len__(self) -> int:
        if self.path is None:
            return len(self._memory)
        with self._lock:
            return int(self._connect().execute("SELECT COUNT(*) FROM judgments").fetchone()[0])

    def info(self) -> dict[str, Any]:
        """Counters plus ``size`` (rows) and, for a file, its path and bytes on disk."""
        data: dict[str, Any] = self.stats.as_dict()
        data["size"] = len(self)
        data["memory_entries"] = len(self._memory)
        if self.path is not None:
            data["path"] = str(self.path)
            data["file_bytes"] = sum(p.stat().st_size for p in _db_files(self.path) if p.exists())
        return data

    def clear(self) -> int:
        """Delete every entry (memory and file); returns the number of rows removed."""
        with self._lock:
            removed = len(self._memory)
            self._memory.clear()
            if self.path is not None:
                conn = self._connect()
                removed = int(conn.execute("SELECT COUNT(*) FROM judgments").fetchone()[0])
                conn.execute("DELETE FROM judgments")
                conn.execute("PRAGMA wal_checkpoint(TRUNCATE)")
            return removed

    def span(self) -> tuple[Optional[float], Optional[float]]:
        """(oldest, newest) store time in the file, as Unix times; ``(None, None)`` when empty or in memory."""
        if self.path is None:
            return None, None
        with self._lock:
            return tuple(self._connect().execute("SELECT MIN(created), MAX(created) FROM judgments").fetchone())  # type: ignore[return-value]

    def close(self) -> None:
        with self._lock:
            if self._conn is not None and self._pid == os.getpid():
                self._conn.close()
            self._conn = None

    def __getstate__(self) -> dict[str, Any]:
        state = dict(self.__dict__)
        state["_conn"], state["_lock"], state["_memory"] = None, None, OrderedDict()
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"JudgeCache(path={str(self.path) if self.path else None!r}, memory_size={self.memory_size})"


def _db_files(path: Path) -> list[Path]:
    return [path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm")]


def open_cache(spec: Union[None, bool, str, os.PathLike, JudgeCache], memory_size: int = 100_000) -> Optional[JudgeCache]:
    """The cache a ``cache=`` option describes: ``None``/``False`` off, ``True`` memory only, a path, or a cache."""
    if spec is None or spec is False:
        return None
    if isinstance(spec, JudgeCache):
        return spec
    if spec is True:
        return JudgeCache(None, memory_size=memory_size)
    return JudgeCache(spec, memory_size=memory_size)
