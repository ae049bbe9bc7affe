"""Write SQLite event-log files the way no adapter would: raw records (poison included) and
records changed in place, for tests of what readers do with a damaged or odd log."""

from __future__ import annotations

import contextlib
import sqlite3
from pathlib import Path

from services.eventlog import PAGE_EVENTS, SqliteEventLog, pack_page, unpack_page


def write_raw_log(path: Path, rows: list[tuple[str, bytes]]) -> None:
    """A log holding ``rows`` (sim_time, stored bytes) as they are, in pages like an append's:
    the adapter's append would refuse poison records, readers must not."""
    SqliteEventLog(path, mode="w").close()
    pages = []
    for first in range(0, len(rows), PAGE_EVENTS):
        chunk = rows[first : first + PAGE_EVENTS]
        body = pack_page([raw for _, raw in chunk])
        pages.append((first, len(chunk), chunk[0][0], chunk[-1][0], body))
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        conn.executemany("INSERT INTO pages VALUES (?, ?, ?, ?, ?)", pages)
    _settle(path)


def replace_record(path: Path, offset: int, raw: bytes) -> None:
    """Put ``raw`` in place of the stored bytes of the record at ``offset``."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        first, body = conn.execute(
            "SELECT first_offset, body FROM pages WHERE first_offset <= ?"
            " ORDER BY first_offset DESC LIMIT 1",
            (offset,),
        ).fetchone()
        records = unpack_page(body)
        records[offset - first] = raw
        conn.execute(
            "UPDATE pages SET body = ? WHERE first_offset = ?", (pack_page(records), first)
        )
    _settle(path)


def damage_page(path: Path, offset: int) -> tuple[int, int]:
    """Flip bytes in the middle of the compressed page holding ``offset``; return the page's
    first and last offset."""
    with contextlib.closing(sqlite3.connect(path)) as conn, conn:
        first, count, body = conn.execute(
            "SELECT first_offset, count, body FROM pages WHERE first_offset <= ?"
            " ORDER BY first_offset DESC LIMIT 1",
            (offset,),
        ).fetchone()
        middle = len(body) // 2
        broken = (
            body[:middle] + bytes(b ^ 0xFF for b in body[middle : middle + 8]) + body[middle + 8 :]
        )
        conn.execute("UPDATE pages SET body = ? WHERE first_offset = ?", (broken, first))
    _settle(path)
    return first, first + count - 1


def _settle(path: Path) -> None:
    conn = sqlite3.connect(path)
    conn.execute("PRAGMA journal_mode=DELETE")
    conn.close()
