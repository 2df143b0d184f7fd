"""Where each claimed delivery goes, looked up at send time: staff contacts from the directory (each read
audited), group robots from their table, volunteers from the volunteers service. Nothing here is written to a
topic; the delivery log keeps masked forms only."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from govkit.db import Connection
from notifications import queries
from notifications.channels.base import Address, DeliveryFailure
from notifications.contacts import Contact, Lookup, VolunteerContacts
from notifications.context import Row
from notifications.domain.kinds import Kind

OFFER_KINDS = frozenset({Kind.offer.value, Kind.offer_reminder.value})
READER = "notifications-sender"


@dataclass(frozen=True)
class Target:
    address: Address | None = None  # None for in_app
    inbox_sub: str | None = None
    link: str | None = None
    skip: str | None = None  # why this delivery is not sent at all

    @property
    def display(self) -> str:
        if self.address is not None:
            return self.address.display
        return f"inbox of {self.inbox_sub}" if self.inbox_sub else ""


def mask_phone(phone: str) -> str:
    digits = phone.strip()
    return digits[:3] + "****" + digits[-4:] if len(digits) >= 8 else "****"


def mask_email(email: str) -> str:
    local, _, domain = email.partition("@")
    return f"{local[:1]}***@{domain}"


def _facts(row: Row) -> dict[str, str]:
    facts = row["facts"]
    return dict(facts)  # jsonb arrives decoded (govkit.db)


def _staff_target(row: Row, sub: str, contacts: Mapping[str, Row]) -> Target:
    channel = row["channel"]
    if channel == "in_app":
        return Target(inbox_sub=sub)
    person = contacts.get(sub)
    if person is None or not person["active"]:
        return Target(skip="not in the staff directory")
    if channel == "sms" and person["phone"]:
        return Target(Address("sms", person["phone"], display=mask_phone(person["phone"])))
    if channel == "email" and person["email"]:
        return Target(Address("email", person["email"], display=mask_email(person["email"])))
    return Target(skip=f"no {channel} contact on record")


def _robot_target(row: Row, robot: Row | None) -> Target:
    if robot is None or not robot["active"]:
        return Target(skip="robot removed")
    address = Address(robot["kind"], robot["url"], secret=robot["secret"], display=f"robot #{robot['id']}")
    return Target(address, link=_facts(row).get("link") or None)


def _volunteer_target(row: Row, contact: Contact, chosen: Sequence[str] | None) -> Target:
    if not contact.found:
        return Target(skip="volunteer not found for this offer or pairing")
    link = None
    if row["kind"] in OFFER_KINDS:
        if not contact.answer_url:
            return Target(skip=f"offer no longer open ({contact.offer_status or 'unknown'})")
        link = contact.answer_url
    if chosen is not None and row["channel"] not in chosen:
        return Target(skip="not chosen in the volunteer's preferences")
    if row["channel"] == "in_app":
        return (
            Target(inbox_sub=contact.account_sub, link=link) if contact.account_sub else Target(skip="no app account")
        )
    if not contact.phone:
        return Target(skip="no phone on record")
    return Target(Address("sms", contact.phone, display=mask_phone(contact.phone)), link=link)


async def resolve(
    con: Connection, rows: Sequence[Row], contacts: VolunteerContacts
) -> dict[Any, Target | DeliveryFailure]:
    out: dict[Any, Target | DeliveryFailure] = {}
    by_kind: dict[str, list[Row]] = {"staff": [], "robot": [], "volunteer": []}
    for row in rows:
        by_kind[row["recipient"].split(":", 1)[0]].append(row)

    staff_subs = sorted({r["recipient"].split(":", 1)[1] for r in by_kind["staff"] if r["channel"] != "in_app"})
    people: dict[str, Row] = {}
    if staff_subs:
        people = {p["sub"]: p for p in await con.fetch(queries.STAFF_CONTACTS, staff_subs)}
        await con.execute(queries.AUDIT_READ, sorted(people), READER, "notify")
    for row in by_kind["staff"]:
        out[row["id"]] = _staff_target(row, row["recipient"].split(":", 1)[1], people)

    if by_kind["robot"]:
        ids = sorted({int(r["recipient"].split(":", 1)[1]) for r in by_kind["robot"]})
        robots = {r["id"]: r for r in await con.fetch(queries.ROBOTS_BY_ID, ids)}
        for row in by_kind["robot"]:
            out[row["id"]] = _robot_target(row, robots.get(int(row["recipient"].split(":", 1)[1])))

    volunteers = by_kind["volunteer"]
    if volunteers:
        lookups = [_lookup(row) for row in volunteers]
        try:
            found = await contacts.resolve(lookups)
        except DeliveryFailure as e:
            out.update({row["id"]: e for row in volunteers})
            return out
        for row, contact in zip(volunteers, found, strict=True):
            chosen = await _chosen(con, contact.account_sub, row["kind"])
            out[row["id"]] = _volunteer_target(row, contact, chosen)
    return out


def _lookup(row: Row) -> Lookup:
    ref = row["recipient"].split(":", 1)[1]
    if row["kind"] == Kind.pairing_overdue.value:
        return Lookup(ref, pairing_id=_facts(row).get("pairing_id"))
    return Lookup(ref, task_id=str(row["task_id"]) if row["task_id"] else None)


async def _chosen(con: Connection, sub: str | None, kind: str) -> Sequence[str] | None:
    """The channels a volunteer chose for this kind, when they said (None: the defaults apply)."""
    if not sub:
        return None
    prefs = await con.fetchrow(queries.PREFERENCES_OF, sub)
    if prefs is None:
        return None
    channels = prefs["channels"]
    chosen: Sequence[str] | None = channels.get(kind)
    return chosen
