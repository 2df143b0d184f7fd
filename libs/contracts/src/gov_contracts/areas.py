"""Area reference data, published by the operator command `gov areas publish`."""

from enum import Enum
from typing import Annotated, Literal

from pydantic import AfterValidator, BaseModel, ConfigDict, Field

from gov_contracts.base import EventModel

AREA_ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,2}$"


class AreaKind(str, Enum):  # noqa: UP042  (StrEnum would change str() of a member: identical behaviour first)
    town = "town"
    village = "village"
    community = "community"
    grid = "grid"


# GeoJSON (RFC 7946) in WGS84: a position is [longitude, latitude] in degrees, no altitude
Longitude = Annotated[float, Field(ge=-180, le=180)]
Latitude = Annotated[float, Field(ge=-90, le=90)]
Position = tuple[Longitude, Latitude]


def _closed(ring: list[Position]) -> list[Position]:
    if ring[0] != ring[-1]:
        raise ValueError("a linear ring must end at the position it starts at")
    return ring


LinearRing = Annotated[list[Position], Field(min_length=4), AfterValidator(_closed)]
PolygonCoordinates = Annotated[list[LinearRing], Field(min_length=1)]


class Polygon(BaseModel):
    """A GeoJSON Polygon: the exterior ring first (counter-clockwise), then any holes."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    type: Literal["Polygon"]
    coordinates: PolygonCoordinates


class MultiPolygon(BaseModel):
    """A GeoJSON MultiPolygon: an area in several parts."""

    model_config = ConfigDict(extra="ignore", frozen=True)
    type: Literal["MultiPolygon"]
    coordinates: Annotated[list[PolygonCoordinates], Field(min_length=1)]


Geometry = Annotated[Polygon | MultiPolygon, Field(discriminator="type")]


class AreaUpserted(EventModel):
    """An area of the tree town > village|community > grid, as it is now.

    The areas topic is compacted by area id, so the latest AreaUpserted per
    id is the current tree.
    """

    id: str = Field(pattern=AREA_ID_PATTERN, examples=["changping.kongjiafan.g03"])
    kind: AreaKind
    name: str = Field(min_length=1, examples=["孔家畈村第3网格"])
    parent_id: str | None = Field(default=None, pattern=AREA_ID_PATTERN)
    invented: bool = Field(default=False, description="true when the place is invented for the demo data set")
    tree_version: str = Field(description="checksum of the whole tree file this area was published from")
    geometry: Geometry | None = Field(
        default=None,
        description="the area's shape: a GeoJSON Polygon or MultiPolygon in WGS84 ([longitude, latitude]); "
        "absent when the tree file has none for this area",
    )
