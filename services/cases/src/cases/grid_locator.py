"""Point → grid: which grid of this service's area copy holds a point (lon, lat in WGS84).

`GridIndex` is an STRtree over the grids' shapes (the `geometry` column of `areas`, GeoJSON Polygon or
MultiPolygon). `GridLocator` keeps one, built lazily from the table and rebuilt when the grids change: at most
every `check_every_s` seconds it reads the grids' count and latest `updated_at` (every area upsert sets it) and
rebuilds the index when either differs from the ones it was built from.

A point on the boundary of two or more grids (a shared edge or corner) is placed in the grid with the lowest
id: deterministic, whatever order the tree returns its candidates in.
"""

from __future__ import annotations

import json
import math
import time
from collections.abc import Callable, Iterable
from typing import Any

import asyncpg
import shapely
from shapely.geometry import Point, shape
from shapely.geometry.base import BaseGeometry
from shapely.ops import nearest_points

GRID_SHAPES = "select id, geometry from areas where kind = 'grid' and geometry is not null order by id"
GRID_SIGNATURE = "select count(*), max(updated_at) from areas where kind = 'grid'"

EARTH_RADIUS_M = 6_371_008.8


def metres_between(lon1: float, lat1: float, lon2: float, lat2: float) -> float:
    """Great-circle distance (haversine) in metres."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    a = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2 * EARTH_RADIUS_M * math.asin(min(1.0, math.sqrt(a)))


class GridIndex:
    """An immutable index of grid shapes: grid_at and distance_m answer from memory."""

    def __init__(self, shapes: Iterable[tuple[str, dict[str, Any] | BaseGeometry]]):
        pairs = sorted((gid, geom if isinstance(geom, BaseGeometry) else shape(geom)) for gid, geom in shapes)
        self.ids = [gid for gid, _ in pairs]
        self.shapes = {gid: geom for gid, geom in pairs}
        self._geoms = [geom for _, geom in pairs]
        self._tree = shapely.STRtree(self._geoms)

    def __len__(self) -> int:
        return len(self.ids)

    def grid_at(self, lon: float, lat: float) -> str | None:
        """The grid whose shape holds the point (its boundary included); on a shared boundary, the lowest id;
        None when no grid holds it."""
        hits = self._tree.query(Point(lon, lat), predicate="intersects")
        return min((self.ids[int(i)] for i in hits), default=None)

    def distance_m(self, grid_id: str, lon: float, lat: float) -> float | None:
        """Metres from the point to the grid's shape (0 inside or on it); None when the grid has no shape."""
        geom = self.shapes.get(grid_id)
        if geom is None:
            return None
        point = Point(lon, lat)
        if geom.intersects(point):
            return 0.0
        nearest = nearest_points(geom, point)[0]
        return metres_between(lon, lat, nearest.x, nearest.y)


class GridLocator:
    """The GridIndex of the `areas` table, rebuilt when the grids change (checked at most every check_every_s)."""

    def __init__(self, pool: asyncpg.Pool, check_every_s: float = 5.0, monotonic: Callable[[], float] = time.monotonic):
        self.pool = pool
        self.check_every_s = check_every_s
        self._monotonic = monotonic
        self._index: GridIndex | None = None
        self._signature: tuple[Any, ...] | None = None
        self._checked_at = -math.inf

    async def index(self) -> GridIndex:
        now = self._monotonic()
        if self._index is not None and now - self._checked_at < self.check_every_s:
            return self._index
        async with self.pool.acquire() as con:
            signature = tuple(await con.fetchrow(GRID_SIGNATURE) or ())
            if self._index is None or signature != self._signature:
                rows = await con.fetch(GRID_SHAPES)
                self._index = GridIndex((r["id"], _geojson(r["geometry"])) for r in rows)
                self._signature = signature
        self._checked_at = now
        return self._index


def _geojson(value: Any) -> dict[str, Any]:
    # asyncpg hands jsonb over as text unless a codec is set on the connection
    return json.loads(value) if isinstance(value, str) else value
