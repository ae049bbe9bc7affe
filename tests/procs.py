"""Processes seen from /proc, for tests that check what a killed command leaves behind."""

from __future__ import annotations

from pathlib import Path


def children(pid: int) -> set[int]:
    """The children of ``pid`` (of each of its threads)."""
    kids: set[int] = set()
    for task in Path(f"/proc/{pid}/task").glob("*"):
        try:
            kids |= {int(k) for k in (task / "children").read_text().split()}
        except OSError:
            continue
    return kids


def descendants(pid: int) -> set[int]:
    """Every descendant of ``pid``."""
    found: set[int] = set()
    todo = [pid]
    while todo:
        for kid in children(todo.pop()) - found:
            found.add(kid)
            todo.append(kid)
    return found


def alive(pid: int) -> bool:
    """Is ``pid`` a process that has not exited (a zombie has)?"""
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"
