"""Routes other services of the platform call, not people: the notifications service's contact lookup."""

from __future__ import annotations

from fastapi import APIRouter

from govkit.auth import CurrentPrincipal
from volunteers import contacts
from volunteers.api.deps import ServiceContext
from volunteers.api.schemas import ContactLookup, ContactPage, ContactRead

router = APIRouter(prefix="/internal/v1", tags=["internal"])


@router.post(
    "/contacts",
    response_model=ContactPage,
    summary="Contacts of volunteers with an offer or a pairing, for the notifications service (audited)",
    description="Needs a token with the role `service` and the permission `volunteer_contact:read`. Each item "
    "names a volunteer by the `volunteer_ref` of the events and either a task (its offer to the volunteer) or a "
    "pairing (its volunteer); answers one item per item asked, in order, `found: false` when there is no such "
    "offer or pairing of that volunteer. An offer still pending and not expired has an `answer_url`: a "
    "single-use link the volunteer accepts or declines with from a phone, the same for every lookup of the offer. "
    "Every volunteer found is recorded as a read of their name and phone.",
    operation_id="lookupContacts",
)
async def lookup_contacts(body: ContactLookup, ctx: ServiceContext, principal: CurrentPrincipal) -> ContactPage:
    found = await contacts.lookup(
        ctx,
        principal,
        [contacts.ContactQuery(i.volunteer_ref, task_id=i.task_id, pairing_id=i.pairing_id) for i in body.items],
    )
    return ContactPage(items=[ContactRead.model_validate(c, from_attributes=True) for c in found])
