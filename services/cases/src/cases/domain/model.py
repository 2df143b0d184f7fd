"""The case lifecycle: states, actions and the rules between them. No I/O.

reported → accepted | rejected | withdrawn
accepted → dispatched → in_progress → resolved → verified → closed
resolved --(verification failed)--> reopened → in_progress
any open case → escalated one level (grid → village → town → county)
dispute → referred (court mediation) → outcome recorded → resolved
open case → merged into another case
being handled → suspended (缓办, approved) → resumed to where it was
dispatched → returned (退单) to the dispatching level as accepted, within the window
extension requests (延期) and their decisions, supervision (督办): the state stays
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from gov_contracts import errors
from gov_contracts.vocabulary import Level

__all__ = [
    "Action",
    "IllegalAction",
    "Level",
    "OPEN",
    "Outcome",
    "RULES",
    "Status",
    "TERMINAL",
    "allowed_actions",
    "transition",
]


class Status(str, Enum):  # noqa: UP042  (StrEnum would change str() of a member)
    reported = "reported"
    accepted = "accepted"
    rejected = "rejected"
    withdrawn = "withdrawn"
    dispatched = "dispatched"
    in_progress = "in_progress"
    resolved = "resolved"
    verified = "verified"
    reopened = "reopened"
    referred = "referred"
    closed = "closed"
    merged = "merged"
    suspended = "suspended"


TERMINAL = frozenset({Status.rejected, Status.withdrawn, Status.closed, Status.merged})
OPEN = frozenset(Status) - TERMINAL


class Action(str, Enum):  # noqa: UP042  (StrEnum would change str() of a member)
    accept = "accept"
    reject = "reject"
    withdraw = "withdraw"
    dispatch = "dispatch"
    start = "start"
    resolve = "resolve"
    verify = "verify"
    reopen = "reopen"
    close = "close"
    escalate = "escalate"
    refer = "refer"
    record_outcome = "record_outcome"
    merge = "merge"
    request_extension = "request_extension"
    approve_extension = "approve_extension"
    refuse_extension = "refuse_extension"
    request_suspension = "request_suspension"
    approve_suspension = "approve_suspension"
    refuse_suspension = "refuse_suspension"
    resume = "resume"
    return_ = "return"
    supervise = "supervise"


# a request waits for the level above; while one waits, its kind's decisions apply and no other request
REQUESTS: dict[Action, str] = {Action.request_extension: "extension", Action.request_suspension: "suspension"}
DECISIONS: dict[Action, str] = {
    Action.approve_extension: "extension",
    Action.refuse_extension: "extension",
    Action.approve_suspension: "suspension",
    Action.refuse_suspension: "suspension",
}
# the actions that leave the state as it is
STAYS = frozenset({*REQUESTS, *DECISIONS, Action.supervise}) - {Action.approve_suspension}

_HANDLING = frozenset({Status.accepted, Status.dispatched, Status.in_progress, Status.reopened})

# action -> (states it may start from, state it leads to; None = depends, see transition())
RULES: dict[Action, tuple[frozenset[Status], Status | None]] = {
    Action.accept: (frozenset({Status.reported}), Status.accepted),
    Action.reject: (frozenset({Status.reported}), Status.rejected),
    Action.withdraw: (frozenset({Status.reported}), Status.withdrawn),
    Action.dispatch: (frozenset({Status.accepted}), Status.dispatched),
    Action.start: (frozenset({Status.dispatched, Status.reopened}), Status.in_progress),
    Action.resolve: (frozenset({Status.in_progress}), Status.resolved),
    Action.verify: (frozenset({Status.resolved}), Status.verified),
    Action.reopen: (frozenset({Status.resolved}), Status.reopened),
    Action.close: (frozenset({Status.verified}), Status.closed),
    Action.escalate: (frozenset({Status.reported}) | _HANDLING, None),
    Action.refer: (frozenset({Status.accepted, Status.dispatched, Status.in_progress}), Status.referred),
    Action.record_outcome: (frozenset({Status.referred}), Status.resolved),
    Action.merge: (frozenset({Status.reported}) | _HANDLING, Status.merged),
    **{a: (_HANDLING, None) for a in (*REQUESTS, *DECISIONS)},
    Action.approve_suspension: (_HANDLING, Status.suspended),
    Action.resume: (frozenset({Status.suspended}), None),
    Action.return_: (frozenset({Status.dispatched}), Status.accepted),
    Action.supervise: (OPEN, None),
}


class IllegalAction(errors.IllegalAction):
    """The case's state does not allow the action; `status`, `action` and `allowed` hold the enums (str values)."""

    status: Status
    action: Action

    def __init__(self, status: Status, action: Action, allowed: list[Action], why: str = ""):
        super().__init__(
            why or f"cannot {action.value} a case that is {status.value}", status=status, action=action, allowed=allowed
        )


@dataclass(frozen=True)
class Outcome:
    status: Status
    level: Level


def _applies(action: Action, status: Status, level: Level, category: str, pending: str | None) -> bool:
    starts, _ = RULES[action]
    if status not in starts:
        return False
    if action is Action.escalate and level.up() is None:
        return False
    if action in REQUESTS:
        return pending is None
    if action in DECISIONS:
        return pending == DECISIONS[action]
    return action is not Action.refer or category.startswith("dispute.")


def allowed_actions(status: Status, level: Level, category: str, pending: str | None = None) -> list[Action]:
    """What the state allows; `pending` is the kind of request awaiting a decision (extension or suspension)."""
    return [a for a in Action if _applies(a, status, level, category, pending)]


def transition(
    status: Status,
    action: Action,
    *,
    level: Level,
    category: str,
    to_level: Level | None = None,
    pending: str | None = None,
    resume_to: Status | None = None,
) -> Outcome:
    """The state and level after `action`, or IllegalAction naming what is allowed.

    `to_level`: the unit's level (dispatch) or the dispatching level (return); `resume_to`: the state a
    suspended case was in."""
    if not _applies(action, status, level, category, pending):
        why = ""
        if action is Action.escalate and status in RULES[action][0] and level.up() is None:
            why = "the case is already at county level, the highest"
        elif action is Action.refer and status in RULES[action][0]:
            why = "only disputes (dispute.*) can be referred to court mediation"
        elif action in REQUESTS and status in RULES[action][0]:
            why = f"a {pending} request awaits a decision; one request at a time"
        elif action in DECISIONS and status in RULES[action][0]:
            why = f"no {DECISIONS[action]} request awaits a decision"
        raise IllegalAction(status, action, allowed_actions(status, level, category, pending), why)
    if action in STAYS:
        return Outcome(status, level)
    if action is Action.resume:
        return Outcome(resume_to or Status.in_progress, level)
    if action is Action.return_:
        return Outcome(Status.accepted, to_level or level)
    if action is Action.escalate:
        up = level.up()
        assert up is not None
        # the higher level decides anew: a case being handled goes back to awaiting dispatch
        return Outcome(Status.reported if status is Status.reported else Status.accepted, up)
    if action is Action.dispatch and to_level is not None:
        return Outcome(Status.dispatched, to_level)
    target = RULES[action][1]
    assert target is not None
    return Outcome(target, level)
