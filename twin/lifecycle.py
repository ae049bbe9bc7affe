"""The satellite state machine: which event moves a satellite from which state to which.

Lifecycle: planned → launched → deployed → raising → commissioning → operational;
operational ⇄ in_eclipse ⇄ load_shed (battery floor reached in shadow);
operational/in_eclipse/load_shed → faulted → (transient) rebooted → back, or
(permanent) awaiting_repair → under_repair → back; any flying state → deorbiting → deorbited;
a failed launch → lost.

Shadow is also tracked as a flag beside the state: a faulted or commissioning satellite still
crosses Earth's shadow, which changes its power but not its lifecycle state. "Back" (``RESUME``)
means operational when sunlit and in_eclipse when in shadow.

The engine checks every transition before it emits an event and the fold checks again when it
applies one, so an illegal sequence fails loudly wherever it appears.
"""

from __future__ import annotations

from enum import StrEnum

from twin.errors import IllegalTransition


class State(StrEnum):
    PLANNED = "planned"
    LAUNCHED = "launched"
    DEPLOYED = "deployed"
    RAISING = "raising"
    COMMISSIONING = "commissioning"
    OPERATIONAL = "operational"
    IN_ECLIPSE = "in_eclipse"
    LOAD_SHED = "load_shed"
    FAULTED = "faulted"
    AWAITING_REPAIR = "awaiting_repair"
    UNDER_REPAIR = "under_repair"
    DEORBITING = "deorbiting"
    DEORBITED = "deorbited"
    LOST = "lost"


#: States in which a satellite computes (fully or, in shadow, on battery).
COMPUTING = frozenset({State.OPERATIONAL, State.IN_ECLIPSE})
#: States in which a satellite is in orbit (it crosses shadow, it can be deorbited).
IN_ORBIT = frozenset(
    {
        State.DEPLOYED,
        State.RAISING,
        State.COMMISSIONING,
        State.OPERATIONAL,
        State.IN_ECLIPSE,
        State.LOAD_SHED,
        State.FAULTED,
        State.AWAITING_REPAIR,
        State.UNDER_REPAIR,
        State.DEORBITING,
    }
)
TERMINAL = frozenset({State.DEORBITED, State.LOST})

#: Marker target: stay in the current state (a shadow flag changes only).
SAME = "same"
#: Marker target: back to service, operational when sunlit, in_eclipse in shadow.
RESUME = "resume"

_SERVICE = frozenset({State.OPERATIONAL, State.IN_ECLIPSE, State.LOAD_SHED})

# event type -> (allowed source states, target state or marker)
TRANSITIONS: dict[str, tuple[frozenset[State], State | str]] = {
    "launched": (frozenset({State.PLANNED}), State.LAUNCHED),
    "launch_failed": (frozenset({State.PLANNED, State.LAUNCHED}), State.LOST),
    "deployed": (frozenset({State.LAUNCHED}), State.DEPLOYED),
    "orbit_raising_started": (frozenset({State.DEPLOYED}), State.RAISING),
    "orbit_raised": (frozenset({State.RAISING}), State.COMMISSIONING),
    "powered_up": (frozenset({State.COMMISSIONING}), RESUME),
    "eclipse_entered": (IN_ORBIT, SAME),  # operational -> in_eclipse handled in target()
    "eclipse_exited": (IN_ORBIT, SAME),  # in_eclipse -> operational handled in target()
    "load_shed": (frozenset({State.IN_ECLIPSE}), State.LOAD_SHED),
    "load_restored": (frozenset({State.LOAD_SHED}), RESUME),
    "fault_detected": (_SERVICE, State.FAULTED),
    "rebooted": (frozenset({State.FAULTED}), RESUME),
    "repair_requested": (frozenset({State.FAULTED}), State.AWAITING_REPAIR),
    "repair_robot_dispatched": (frozenset({State.AWAITING_REPAIR}), SAME),
    "repair_robot_arrived": (frozenset({State.AWAITING_REPAIR}), State.UNDER_REPAIR),
    "repair_completed": (frozenset({State.UNDER_REPAIR}), RESUME),
    "deorbit_started": (IN_ORBIT - {State.DEORBITING}, State.DEORBITING),
    "deorbited": (frozenset({State.DEORBITING}), State.DEORBITED),
    # ground contacts change no state: any satellite in orbit passes over stations
    "contact_started": (IN_ORBIT, SAME),
    "contact_ended": (IN_ORBIT, SAME),
}


def target(event_type: str, current: State, in_shadow: bool) -> State:
    """The state after ``event_type`` from ``current``; ``in_shadow`` is the flag *after* it.

    Raises ``KeyError`` for event types that are not satellite transitions and
    ``ValueError`` when ``current`` is not an allowed source.
    """
    sources, to = TRANSITIONS[event_type]
    if current not in sources:
        raise ValueError(current)
    if to == SAME:
        if event_type == "eclipse_entered" and current == State.OPERATIONAL:
            return State.IN_ECLIPSE
        if event_type == "eclipse_exited" and current == State.IN_ECLIPSE:
            return State.OPERATIONAL
        return current
    if to == RESUME:
        return State.IN_ECLIPSE if in_shadow else State.OPERATIONAL
    return State(to)


def check(satellite: str, event_type: str, current: State, in_shadow: bool, sim_time: str) -> State:
    """Like :func:`target` but raises :class:`IllegalTransition` naming satellite, states, time."""
    try:
        return target(event_type, current, in_shadow)
    except ValueError:
        allowed = ", ".join(sorted(TRANSITIONS[event_type][0]))
        raise IllegalTransition(
            satellite, str(current), f"{event_type} (allowed from: {allowed})", sim_time
        ) from None
