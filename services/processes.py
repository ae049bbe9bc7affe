"""Child processes that die with whoever started them.

A benchmark, a test or a projector starts brokers, projectors and interpreters of its own. If it
is killed (SIGKILL, a test runner's timeout) those children must not live on as orphans that
hold ports and CPU: :func:`die_with_parent`, passed as ``preexec_fn``, asks the kernel to send
the child SIGTERM when the thread that started it ends (Linux ``PR_SET_PDEATHSIG``; elsewhere
it does nothing and the owner's own cleanup is all there is).
"""

from __future__ import annotations

import signal
from typing import Any

_PR_SET_PDEATHSIG = 1


def die_with_parent() -> None:
    """In the child before exec: SIGTERM when the parent thread dies (Linux; else no-op)."""
    try:
        import ctypes

        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGTERM, 0, 0, 0)
    except (OSError, AttributeError):
        pass


def forked_child(*parent_ends: Any) -> None:
    """First thing in a forked worker: SIGTERM back to its default (it inherited the CLI's
    handler, which would print a traceback instead of just ending it), and the copies of
    the parent's pipe ends closed, so the child sees end of input once the parent closes or
    dies (with a copy open, it would wait on it for ever)."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    for end in parent_ends:
        end.close()
