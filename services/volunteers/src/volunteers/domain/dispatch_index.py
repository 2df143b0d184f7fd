"""The candidate index: what ranking reads of every active volunteer, held in memory and arranged so that
the best eligible candidates of a task are found without looking at everybody. Pure: no I/O; the service
feeds it rows (candidate_index.py) and asks it for proposals. The rules stay those of dispatch.py: the
index only narrows the search, then each proposal passes dispatch.ineligibility and the order is
dispatch.rank_key's.

Two arrangements, both over a dense number per volunteer (its bit):

* bitsets over volunteers (Python ints, one bit per volunteer): per area (grid, village, town), per skill,
  per 15-minute slot of the week in which the volunteer's weekly availability lies (7 x 96 slots), and
  "ready" (load under max_concurrent). A task's possible candidates are one AND of a handful of them: a
  necessary condition, never a sufficient one (dispatch.available decides);
* per task type and area, the volunteers sorted by the rest of the rank key (whole hours in the last 30
  days, role fit, reliability, id); the tiers of proximity (same grid, same village, same town) are walked
  in order, so the first eligible ones found are the best.

Hours in the last 30 days change with time alone (ledger entries age out): the index keeps each
volunteer's entries of the last 31 days and a heap of when the next one leaves the window, and re-keys
those volunteers before it answers for a later `now`.
"""

from __future__ import annotations

import heapq
from bisect import bisect_left, insort
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta

from gov_contracts.vocabulary import LOCAL_TZ, area_chain
from volunteers.domain.dispatch import (
    FIXED_WINDOW,
    ROLE_FIT,
    SCOPES,
    Candidate,
    TaskSpec,
    Window,
    ineligibility,
    role_fit,
)

SLOT_S = 15 * 60
SLOTS_PER_DAY = 24 * 3600 // SLOT_S
WEEK_SLOTS = 7 * SLOTS_PER_DAY
HOURS_WINDOW = timedelta(days=30)
# the ledger entries and leave periods the index keeps: those that may still count for a `now` up to a day
# earlier than the newest it was asked about
KEEP = HOURS_WINDOW + timedelta(days=1)
# a tier with at most this many possible candidates is sorted outright; a larger one is walked in key order
SORT_AT_MOST = 64

_BYTE_BITS: tuple[tuple[int, ...], ...] = tuple(tuple(b for b in range(8) if n >> b & 1) for n in range(256))


def bits(x: int) -> Iterator[int]:
    """The positions of the set bits of x, lowest first."""
    raw = x.to_bytes((x.bit_length() + 7) // 8, "little")
    for pos, byte in enumerate(raw):
        if byte:
            base = pos * 8
            for o in _BYTE_BITS[byte]:
                yield base + o


def _seconds(t: datetime) -> int:
    return t.hour * 3600 + t.minute * 60 + t.second


def availability_bits(windows: Iterable[Window]) -> int:
    """The week's slots a volunteer's windows touch (bit weekday * 96 + slot): a superset of where a task
    can be inside a window, or overlap one."""
    out = 0
    for w in windows:
        a = w.start.hour * 3600 + w.start.minute * 60 + w.start.second
        b = w.end.hour * 3600 + w.end.minute * 60 + w.end.second
        if b <= a:
            continue  # dispatch.available never finds a task inside such a window
        lo, hi = a // SLOT_S, min(b // SLOT_S, SLOTS_PER_DAY - 1)
        out |= ((1 << (hi - lo + 1)) - 1) << (w.weekday * SLOTS_PER_DAY + lo)
    return out


@dataclass(frozen=True)
class SlotNeed:
    """What a task's window asks of the slot bitsets: every slot (`all_of`, a short task), at least one slot
    (`any_of`, a long one), or nothing can hold it (`never`: a short task across midnight)."""

    all_of: tuple[int, ...] = ()
    any_of: tuple[int, ...] = ()
    never: bool = False


def slot_need(start: datetime, end: datetime) -> SlotNeed:
    s, e = start.astimezone(LOCAL_TZ), end.astimezone(LOCAL_TZ)
    if e - s <= FIXED_WINDOW:
        if s.date() != e.date():
            return SlotNeed(never=True)
        base = s.weekday() * SLOTS_PER_DAY
        return SlotNeed(all_of=tuple(range(base + _seconds(s) // SLOT_S, base + _seconds(e) // SLOT_S + 1)))
    if (e.date() - s.date()).days >= 7:
        return SlotNeed(any_of=tuple(range(WEEK_SLOTS)))
    slots: set[int] = set()
    day = s.date()
    while day <= e.date():
        lo = _seconds(s) // SLOT_S if day == s.date() else 0
        hi = _seconds(e) // SLOT_S if day == e.date() else SLOTS_PER_DAY - 1
        base = day.weekday() * SLOTS_PER_DAY
        slots.update(range(base + lo, base + hi + 1))
        day += timedelta(days=1)
    return SlotNeed(any_of=tuple(sorted(slots)))


@dataclass(frozen=True, slots=True)
class Volunteer:
    """One active volunteer as the index holds it: the inputs of ranking, not yet evaluated at a time."""

    id: str
    roles: tuple[str, ...]
    home_grid: str
    skills: frozenset[str]
    availability: tuple[Window, ...]
    max_concurrent: int
    load: int
    offers_made: int
    offers_accepted: int
    ledger: tuple[tuple[datetime, int], ...] = ()  # (at, hours in hundredths), sorted by at
    leave: tuple[tuple[datetime, datetime], ...] = ()


@dataclass(slots=True)
class _Held:
    v: Volunteer
    bit: int
    areas: tuple[str, ...]
    avail: int
    cents: int  # hours in hundredths within the 30 days before the index's `now`
    neg_rel: float
    expires: datetime | None = None  # when `cents` next changes with time alone (its heap entry)

    @property
    def hours(self) -> float:
        return self.cents / 100


def _neg_reliability(v: Volunteer) -> float:
    return -round(v.offers_accepted / v.offers_made if v.offers_made else 1.0, 6)


def _cents(v: Volunteer, now: datetime) -> int:
    since = now - HOURS_WINDOW
    return sum(c for at, c in v.ledger if at > since)


def _next_expiry(v: Volunteer, now: datetime) -> datetime | None:
    """When the earliest entry still counted at `now` stops counting."""
    since = now - HOURS_WINDOW
    for at, _ in v.ledger:
        if at > since:
            return at + HOURS_WINDOW
    return None


Key = tuple[int, int, float, str]


@dataclass
class DispatchIndex:
    now: datetime  # the time hours_30d are counted at; moved forward by rank()
    _held: dict[str, _Held] = field(default_factory=dict)
    _by_bit: list[_Held | None] = field(default_factory=list)
    _free: list[int] = field(default_factory=list)
    _area_bits: dict[str, int] = field(default_factory=dict)
    _skill_bits: dict[str, int] = field(default_factory=dict)
    _slot_bits: list[int] = field(default_factory=lambda: [0] * WEEK_SLOTS)
    _ready: int = 0
    _lists: dict[tuple[str, str], list[Key]] = field(default_factory=dict)
    _expiry: list[tuple[datetime, str]] = field(default_factory=list)

    # -- building and changing ---------------------------------------------------------------------------------

    @classmethod
    def build(
        cls, volunteers: Iterable[Volunteer], now: datetime, task_types: Sequence[str] = tuple(ROLE_FIT)
    ) -> DispatchIndex:
        """All at once: the bitsets made per distinct availability pattern, then every sorted list."""
        ix = cls(now=now)
        patterns: dict[int, int] = {}
        for v in volunteers:
            h = ix._hold(v)
            ix._set_flags(h, on=True, slots=False)
            patterns[h.avail] = patterns.get(h.avail, 0) | (1 << h.bit)
        for avail, who in patterns.items():
            for k in bits(avail):
                ix._slot_bits[k] |= who
        for tt in task_types:
            ix._make_lists(tt)
        return ix

    def _hold(self, v: Volunteer) -> _Held:
        bit = self._free.pop() if self._free else len(self._by_bit)
        h = _Held(
            v=v,
            bit=bit,
            areas=tuple(area_chain(v.home_grid)),
            avail=availability_bits(v.availability),
            cents=_cents(v, self.now),
            neg_rel=_neg_reliability(v),
        )
        if bit == len(self._by_bit):
            self._by_bit.append(h)
        else:
            self._by_bit[bit] = h
        self._held[v.id] = h
        self._schedule(h)
        return h

    def _schedule(self, h: _Held) -> None:
        exp = _next_expiry(h.v, self.now)
        if exp is not None and exp != h.expires:
            heapq.heappush(self._expiry, (exp, h.v.id))
        h.expires = exp

    def _set_flags(self, h: _Held, *, on: bool, slots: bool) -> None:
        b = 1 << h.bit

        def flip(x: int) -> int:
            return x | b if on else x & ~b

        for a in h.areas:
            self._area_bits[a] = flip(self._area_bits.get(a, 0))
        for s in h.v.skills:
            self._skill_bits[s] = flip(self._skill_bits.get(s, 0))
        if h.v.load < h.v.max_concurrent or not on:
            self._ready = flip(self._ready)
        if slots:
            for k in bits(h.avail):
                self._slot_bits[k] = flip(self._slot_bits[k])

    def _key(self, h: _Held, task_type: str) -> Key:
        return (int(h.hours), role_fit(h.v.roles, task_type), h.neg_rel, h.v.id)

    def _make_lists(self, task_type: str) -> None:
        per_area: dict[str, list[Key]] = {}
        for h in self._held.values():
            k = self._key(h, task_type)
            for a in h.areas:
                per_area.setdefault(a, []).append(k)
        for a, keys in per_area.items():
            keys.sort()
            self._lists[(task_type, a)] = keys

    def _list_types(self) -> set[str]:
        return {tt for tt, _ in self._lists}

    def _unlist(self, h: _Held) -> None:
        for tt in self._list_types():
            k = self._key(h, tt)
            for a in h.areas:
                keys = self._lists.get((tt, a))
                if keys is not None:
                    i = bisect_left(keys, k)
                    if i < len(keys) and keys[i] == k:
                        del keys[i]

    def _enlist(self, h: _Held) -> None:
        for tt in self._list_types():
            k = self._key(h, tt)
            for a in h.areas:
                insort(self._lists.setdefault((tt, a), []), k)

    def remove(self, volunteer_id: str) -> None:
        h = self._held.pop(volunteer_id, None)
        if h is None:
            return
        self._unlist(h)
        self._set_flags(h, on=False, slots=True)
        self._by_bit[h.bit] = None
        self._free.append(h.bit)

    def put(self, v: Volunteer) -> None:
        """Hold `v` as it is now (a new volunteer, or a changed one); an inactive one is removed instead."""
        old = self._held.get(v.id)
        if old is not None and old.v == v:
            return
        if old is not None and old.v.availability == v.availability:
            # the common change (load, offers, hours, leave): keep the bit and the slot bits
            self._unlist(old)
            self._set_flags(old, on=False, slots=False)
            old.v, old.areas = v, tuple(area_chain(v.home_grid))
            old.cents, old.neg_rel = _cents(v, self.now), _neg_reliability(v)
            self._schedule(old)
            self._set_flags(old, on=True, slots=False)
            self._enlist(old)
            return
        self.remove(v.id)
        h = self._hold(v)
        self._set_flags(h, on=True, slots=True)
        self._enlist(h)

    def __len__(self) -> int:
        return len(self._held)

    def __contains__(self, volunteer_id: object) -> bool:
        return volunteer_id in self._held

    def volunteers(self) -> Iterator[Volunteer]:
        for h in self._held.values():
            yield h.v

    # -- time ----------------------------------------------------------------------------------------------------

    def advance(self, now: datetime) -> None:
        """Count hours at `now`: re-key the volunteers whose oldest counted entry left the 30 days since."""
        if now < self.now:
            # backwards (a caller with an older clock): count everybody again at that time
            self.now = now
            for h in list(self._held.values()):
                self._recount(h)
                self._schedule(h)
            return
        self.now = now
        while self._expiry and self._expiry[0][0] <= now:
            at, vid = heapq.heappop(self._expiry)
            due = self._held.get(vid)
            if due is not None and due.expires == at:  # else a stale entry: the volunteer changed since
                due.expires = None
                self._recount(due)
                self._schedule(due)

    def _recount(self, h: _Held) -> None:
        cents = _cents(h.v, self.now)
        if cents == h.cents:
            return
        if int(cents / 100) == int(h.hours):
            h.cents = cents
            return
        self._unlist(h)
        h.cents = cents
        self._enlist(h)

    # -- asking ----------------------------------------------------------------------------------------------------

    def candidate(self, volunteer_id: str) -> Candidate | None:
        h = self._held.get(volunteer_id)
        return None if h is None else self._candidate(h)

    def _candidate(self, h: _Held) -> Candidate:
        v = h.v
        return Candidate(
            id=v.id,
            roles=v.roles,
            home_grid=v.home_grid,
            skills=v.skills,
            availability=v.availability,
            leave=v.leave,
            max_concurrent=v.max_concurrent,
            active=True,
            load=v.load,
            hours_30d=h.hours,
            offers_made=v.offers_made,
            offers_accepted=v.offers_accepted,
        )

    def possible(self, task: TaskSpec) -> int:
        """The bitset of volunteers that may be eligible for `task` (within its scope, ready, with the skills,
        available in its slots, not excluded)."""
        scope_area = area_chain(task.grid_id)[SCOPES.index(task.scope)]
        p = self._area_bits.get(scope_area, 0) & self._ready
        for s in task.required_skills:
            if not p:
                return 0
            p &= self._skill_bits.get(s, 0)
        need = slot_need(task.window_start, task.window_end)
        if need.never:
            return 0
        for k in need.all_of:
            if not p:
                return 0
            p &= self._slot_bits[k]
        if need.any_of and p:
            u = 0
            for k in need.any_of:
                u |= self._slot_bits[k]
            p &= u
        for vid in task.excluded:
            h = self._held.get(vid)
            if h is not None:
                p &= ~(1 << h.bit)
        return p

    def rank(self, task: TaskSpec, now: datetime, limit: int | None = None) -> list[Candidate]:
        """The eligible candidates of `task` at `now`, best first, the first `limit` of them (all: None);
        equal to dispatch.rank over the same volunteers."""
        self.advance(now)
        p = self.possible(task)
        out: list[Candidate] = []
        if not p:
            return out
        chain = area_chain(task.grid_id)
        inner = 0
        for depth in range(SCOPES.index(task.scope) + 1):
            area_bits = self._area_bits.get(chain[depth], 0)
            tier = p & area_bits & ~inner
            inner = area_bits
            if not tier:
                continue
            found: Iterable[_Held]
            if limit is None or tier.bit_count() <= SORT_AT_MOST:
                found = sorted(
                    (h for h in (self._by_bit[i] for i in bits(tier)) if h is not None),
                    key=lambda h: self._key(h, task.task_type),
                )
            else:
                found = self._walk(task.task_type, chain[depth], tier)
            for h in found:
                c = self._candidate(h)
                if ineligibility(c, task) is None:
                    out.append(c)
                    if limit is not None and len(out) >= limit:
                        return out
        return out

    def _walk(self, task_type: str, area: str, tier: int) -> Iterator[_Held]:
        """The volunteers of `tier` (all within `area`) in key order, from the area's sorted list."""
        if (task_type, area) not in self._lists:
            self._make_lists(task_type)
        raw = tier.to_bytes((tier.bit_length() + 7) // 8, "little")
        n = len(raw)
        held = self._held
        for k in self._lists.get((task_type, area), ()):
            h = held[k[3]]
            i = h.bit >> 3
            if i < n and raw[i] >> (h.bit & 7) & 1:
                yield h

    def same_as(self, other: DispatchIndex, since: datetime) -> list[str]:
        """The volunteers held differently by the two indexes, ledger entries and leave up to `since` aside (a
        verification of the index kept by changes against one built afresh)."""
        ids = set(self._held) | set(other._held)
        return sorted(i for i in ids if _trimmed(self._held.get(i), since) != _trimmed(other._held.get(i), since))


def _trimmed(h: _Held | None, since: datetime) -> Volunteer | None:
    if h is None:
        return None
    v = h.v
    return replace(
        v, ledger=tuple(e for e in v.ledger if e[0] > since), leave=tuple(p for p in v.leave if p[1] > since)
    )


def with_excluded(task: TaskSpec, more: Iterable[str]) -> TaskSpec:
    return replace(task, excluded=task.excluded | frozenset(more))
