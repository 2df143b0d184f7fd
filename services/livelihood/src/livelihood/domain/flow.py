"""The stage machine of a proposal, read from configuration (config/flows/*.yaml) and validated at start.

A flow names its stages and its actions; each action has a kind, and the kind is the rule the code applies
(review, step, decide, publish_notice, start, accept, publish_results, resubmit, withdraw). The structure is
checked so that no flow reaches implementation without a meeting's decision and a public notice: with the
decide or the publish_notice actions taken out, the stages `start` leaves from are unreachable.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from gov_contracts.errors import Forbidden, IllegalAction

KINDS = frozenset(
    {"review", "step", "decide", "publish_notice", "start", "accept", "publish_results", "resubmit", "withdraw"}
)
ONCE = ("decide", "publish_notice", "start", "accept", "publish_results")  # each exactly once in a flow
ROLES = frozenset({"representative", "party_branch", "village_admin", "town_admin", "supervisory_committee", "clerk"})


class FlowError(ValueError):
    """The flow file is not a usable flow; the message names the key."""


@dataclass(frozen=True)
class Action:
    name: str
    kind: str
    sources: tuple[str, ...]
    target: str
    roles: tuple[str, ...] = ()
    otherwise: str | None = None  # decide: the stage when not adopted
    reason_required: bool = False
    label: str = ""


@dataclass(frozen=True)
class Flow:
    name: str
    label: str
    initial: str
    stages: Mapping[str, str]  # code -> Chinese label
    actions: Mapping[str, Action]
    proposer_roles: tuple[str, ...] = ("representative",)
    by_kind: Mapping[str, Action] = field(default_factory=dict)

    def allowed(self, stage: str) -> list[str]:
        """The actions possible in a stage, in the file's order."""
        return [a.name for a in self.actions.values() if stage in a.sources]

    def action(self, name: str, stage: str) -> Action:
        """The named action, if the stage allows it (IllegalAction names the allowed ones otherwise)."""
        act = self.actions.get(name)
        if act is None or stage not in act.sources:
            raise IllegalAction(
                f"{name} is not allowed at stage {stage} ({self.stages.get(stage, stage)})",
                status=stage,
                action=name,
                allowed=self.allowed(stage),
            )
        return act

    def of_kind(self, kind: str) -> Action:
        return self.by_kind[kind]

    def authorize(self, act: Action, roles: Iterable[str]) -> None:
        if act.roles and not set(act.roles) & set(roles):
            raise Forbidden(f"{act.name} ({act.label}) is for {', '.join(act.roles)}")

    def is_terminal(self, stage: str) -> bool:
        return not self.allowed(stage)

    def reachable(self, without_kinds: Iterable[str] = ()) -> set[str]:
        skip = set(without_kinds)
        seen, todo = {self.initial}, [self.initial]
        while todo:
            stage = todo.pop()
            for a in self.actions.values():
                if a.kind in skip or stage not in a.sources:
                    continue
                for nxt in (a.target, a.otherwise):
                    if nxt and nxt not in seen:
                        seen.add(nxt)
                        todo.append(nxt)
        return seen


def build(raw: Mapping[str, object]) -> Flow:
    """A Flow from the parsed YAML, or FlowError naming what is wrong."""
    name = _text(raw, "name")
    stages_raw = raw.get("stages")
    if not isinstance(stages_raw, Mapping) or not stages_raw:
        raise FlowError("stages: give the stages, each with its label")
    stages = {str(code): _text(v, "label", f"stages.{code}") for code, v in stages_raw.items()}
    initial = _text(raw, "initial")
    if initial not in stages:
        raise FlowError(f"initial: {initial!r} is not a stage")
    proposer_roles = tuple(_strings(raw.get("proposer_roles", ["representative"]), "proposer_roles"))
    actions = {str(n): _action(str(n), v, stages) for n, v in _mapping(raw.get("actions"), "actions").items()}
    by_kind: dict[str, Action] = {}
    for a in actions.values():
        if a.kind in ONCE:
            if a.kind in by_kind:
                raise FlowError(f"actions.{a.name}: a second action of kind {a.kind} ({by_kind[a.kind].name})")
            by_kind[a.kind] = a
    missing = [k for k in ONCE if k not in by_kind]
    if missing:
        raise FlowError(f"actions: no action of kind {missing[0]}")
    flow = Flow(name, _text(raw, "label"), initial, stages, actions, proposer_roles, by_kind)
    _check_structure(flow)
    return flow


def _check_structure(flow: Flow) -> None:
    everywhere = flow.reachable()
    unreachable = [s for s in flow.stages if s not in everywhere]
    if unreachable:
        raise FlowError(f"stages.{unreachable[0]}: not reachable from {flow.initial}")
    start = flow.of_kind("start")
    for kind in ("decide", "publish_notice"):
        if set(start.sources) & flow.reachable(without_kinds=[kind]):
            raise FlowError(f"actions.{start.name}: reachable without an action of kind {kind}")
    order = [("decide", "publish_notice"), ("start", "accept"), ("accept", "publish_results")]
    for before, after in order:
        if set(flow.of_kind(after).sources) & flow.reachable(without_kinds=[before]):
            raise FlowError(f"actions.{flow.of_kind(after).name}: reachable without an action of kind {before}")


def _action(name: str, raw: object, stages: Mapping[str, str]) -> Action:
    where = f"actions.{name}"
    v = _mapping(raw, where)
    kind = _text(v, "kind", where)
    if kind not in KINDS:
        raise FlowError(f"{where}.kind: {kind!r} is not one of {', '.join(sorted(KINDS))}")
    sources = tuple(_strings(v.get("from"), f"{where}.from"))
    target = _text(v, "to", where)
    otherwise = v.get("otherwise")
    for stage in (*sources, target, *([otherwise] if otherwise else [])):
        if stage not in stages:
            raise FlowError(f"{where}: {stage!r} is not a stage")
    if kind == "decide" and not otherwise:
        raise FlowError(f"{where}.otherwise: a decision needs the stage for not adopted")
    roles = tuple(_strings(v["roles"], f"{where}.roles")) if "roles" in v else ()
    bad = [r for r in roles if r not in ROLES]
    if bad:
        raise FlowError(f"{where}.roles: {bad[0]!r} is not one of {', '.join(sorted(ROLES))}")
    if kind != "decide" and not roles:
        raise FlowError(f"{where}.roles: say who may take this action")
    return Action(
        name,
        kind,
        sources,
        target,
        roles,
        str(otherwise) if otherwise else None,
        v.get("reason") == "required",
        str(v.get("label", name)),
    )


def _mapping(raw: object, where: str) -> Mapping[str, object]:
    if not isinstance(raw, Mapping) or not raw:
        raise FlowError(f"{where}: expected a mapping")
    return raw


def _text(raw: object, key: str, where: str = "") -> str:
    value = raw.get(key) if isinstance(raw, Mapping) else None
    if not isinstance(value, str) or not value:
        raise FlowError(f"{where + '.' if where else ''}{key}: required text")
    return value


def _strings(raw: object, where: str) -> Sequence[str]:
    if not isinstance(raw, list) or not all(isinstance(x, str) for x in raw) or not raw:
        raise FlowError(f"{where}: expected a list of names")
    return raw
