"""Who may do what in the volunteers service: the role groups and the checks
every use case and route shares. A refusal is a domain error (403/404 at the
HTTP edge)."""

from __future__ import annotations

from gov_contracts.errors import Forbidden
from govkit.auth import Principal
from volunteers.context import Row

STAFF = ("grid_manager", "village_admin", "town_admin", "county_admin")
ADMINS = ("village_admin", "town_admin", "county_admin")  # may correct hours and points
VIEWERS = (*STAFF, "analyst")  # see the tasks, volunteers and schedules in their areas
SERVICE = "service"  # another service of the platform (notifications), never a person
CONTACT_READ = "volunteer_contact:read"  # names and phones of volunteers with an offer or a pairing, audited


def require_roles(p: Principal, roles: tuple[str, ...], what: str = "needs") -> None:
    if not p.has_role(*roles):
        raise Forbidden(f"{what} one of the roles: {', '.join(roles)}")


def require_staff(p: Principal, area: str) -> None:
    """Staff whose scope covers `area`."""
    require_roles(p, STAFF)
    if not p.covers(area):
        raise Forbidden(f"your area scope does not cover {area}")


def may_see_volunteer(p: Principal, volunteer: Row) -> bool:
    """The volunteer themself, or staff and analysts whose scope covers the home grid."""
    return volunteer["account_sub"] == p.sub or (p.has_role(*VIEWERS) and p.covers(volunteer["home_grid"]))


def require_contact_reader(p: Principal) -> None:
    """A service (role `service`) granted `volunteer_contact:read`: both, so a person's token never qualifies."""
    if not (p.has_role(SERVICE) and p.can(CONTACT_READ)):
        raise Forbidden(f"needs the role {SERVICE} and the permission {CONTACT_READ}")
