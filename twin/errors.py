"""One root exception for the whole project, and errors that say where and what is allowed.

Every error a user can cause is a :class:`TwinError`. Input errors (:class:`InputError`)
name *where* the problem is (file, line, field path), *what* was wrong and *what is
allowed*; the CLI turns them into a message on stderr and exit code 2.
Infrastructure errors (:class:`InfraError`) say whether retrying can help.
"""

from __future__ import annotations

from dataclasses import dataclass


class TwinError(Exception):
    """Root of every error raised on purpose by Orbital Twin."""

    exit_code = 1


@dataclass(frozen=True)
class Location:
    """Where a bad value sits: a file, optionally a 1-based line, and/or a field path."""

    file: str | None = None
    line: int | None = None
    field: str | None = None

    def __str__(self) -> str:
        parts: list[str] = []
        if self.file:
            parts.append(self.file if self.line is None else f"{self.file}:{self.line}")
        elif self.line is not None:
            parts.append(f"line {self.line}")
        if self.field:
            parts.append(self.field)
        return ": ".join(parts) if parts else "<input>"


class InputError(TwinError):
    """Bad input from a user: a file, an option or a scenario value. Exit code 2.

    ``problem`` says what is wrong, ``allowed`` what would be accepted, ``context``
    optionally shows the offending text (for example the expected column template
    above the user's line, as python-sgp4 does).
    """

    exit_code = 2

    def __init__(
        self,
        problem: str,
        *,
        file: str | None = None,
        line: int | None = None,
        field: str | None = None,
        allowed: str | None = None,
        context: str | None = None,
    ) -> None:
        self.location = Location(file, line, field)
        self.problem = problem
        self.allowed = allowed
        self.context = context
        super().__init__(self.render())

    def render(self) -> str:
        msg = f"{self.location}: {self.problem}"
        if self.allowed:
            msg += f" (allowed: {self.allowed})"
        if self.context:
            msg += "\n" + self.context
        return msg


class IllegalTransition(TwinError):
    """A satellite was asked to move between two states the state machine forbids."""

    def __init__(self, satellite: str, from_state: str, to_state: str, sim_time: str) -> None:
        self.satellite = satellite
        self.from_state = from_state
        self.to_state = to_state
        self.sim_time = sim_time
        # args hold the fields so the error can be re-raised from its args (SimPy does)
        super().__init__(satellite, from_state, to_state, sim_time)

    def __str__(self) -> str:
        return (
            f"illegal transition for satellite {self.satellite!r} at {self.sim_time}: "
            f"{self.from_state} -> {self.to_state}"
        )


class DecodeError(TwinError):
    """An event's bytes could not be turned into a known event (poison message)."""

    def __init__(self, reason: str, detail: str) -> None:
        self.reason = reason  # short machine-readable code: "invalid_json", "unknown_type", ...
        self.detail = detail
        super().__init__(f"{reason}: {detail}")


class InfraError(TwinError):
    """A broker, file system or network failure. ``retryable`` says if trying again can help."""

    def __init__(self, message: str, retryable: bool = False) -> None:
        self.message = message
        self.retryable = retryable
        # args hold the fields so the error can be re-raised from its args (SimPy does) and
        # pickled: rebuilt from its rendered text, it lost ``retryable`` and doubled the hint
        super().__init__(message, retryable)

    def __str__(self) -> str:
        hint = "retrying may help" if self.retryable else "retrying will not help"
        return f"{self.message} ({hint})"
