"""Open311 GeoReport v2 on the cases service (docs/open311.md).

Civic-reporting apps that speak Open311 list the categories of the policy file
as services, report cases (created synchronously, so the answer carries the
case number and no token is needed) and follow them by number. The reads are
public, as the specification intends: they carry no personal data, and each
category's `visibility` in the policy decides how much of a case they show.

Every answer of this router, errors included, is in Open311's own shape, JSON
or XML after the extension the client asked for.

- `wire`: JSON/XML encoding, Open311's field names and error list, OpenAPI answers
- `forms`: the form-encoded report and the query filters, checked field by field
- `views`: services, service definitions and public service requests
- `errors`: every error as Open311's list, in one place (`Open311Route`)
- `routes`: the endpoints
- `geojson`: the cases of an area as GeoJSON for map clients, under the same visibility rules
  (`GET /v1/public/areas/{area_id}/cases.geojson`; errors as problem+json, not Open311's list)
"""

from cases.api.open311.geojson import router as geojson_router
from cases.api.open311.routes import router

__all__ = ["geojson_router", "router"]
