"""Area reference data, published by the operator command `gov areas publish`."""

from enum import Enum

from pydantic import Field

from gov_contracts.base import EventModel

AREA_ID_PATTERN = r"^[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,2}$"


class AreaKind(str, Enum):  # noqa: UP042  (StrEnum would change str() of a member: identical behaviour first)
    town = "town"
    village = "village"
    community = "community"
    grid = "grid"


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
