"""The grids of a report's area as an SVG map, each filled by its risk level. Pure.

Shapes are the GeoJSON polygons the area copy keeps (govkit migration V003), projected equirectangularly with
longitudes scaled by cos(latitude) at the middle of the map, north up. For print: each level has its own hatch
besides its colour, so the map reads in black and white; each grid carries its number (the index below the map
names them); borders are thin; the map is at most MAP_WIDTH px wide, within an A4 page's width.
"""

from __future__ import annotations

import html
import math
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any

MAP_WIDTH = 640  # px; an A4 page is about 718 CSS px wide within 10 mm margins
MAX_HEIGHT = 760
PAD = 12
LEGEND_HEIGHT = 30
RISK_ORDER = ("red", "orange", "yellow", "green")

Point = tuple[float, float]
Ring = list[Point]


def polygons(geometry: dict[str, Any] | None) -> list[list[Ring]]:
    """The polygons (exterior ring, then holes) of a GeoJSON Polygon or MultiPolygon; none for anything else."""
    if not geometry or geometry.get("type") not in ("Polygon", "MultiPolygon"):
        return []
    coordinates = geometry.get("coordinates") or []
    parts = [coordinates] if geometry["type"] == "Polygon" else coordinates
    return [[[(float(p[0]), float(p[1])) for p in ring] for ring in part] for part in parts]


@dataclass(frozen=True)
class Projection:
    """lon/lat -> SVG x/y: x = (lon - west) · cos(mid latitude) · scale + pad, y = (north - lat) · scale + pad."""

    west: float
    north: float
    kx: float
    scale: float
    width: float
    height: float

    def __call__(self, point: Point) -> Point:
        lon, lat = point
        return (PAD + (lon - self.west) * self.kx * self.scale, PAD + (self.north - lat) * self.scale)


def projection(points: Iterable[Point], width: float = MAP_WIDTH, max_height: float = MAX_HEIGHT) -> Projection:
    """The projection that fits the points in `width` (or `max_height`, if the area is tall) keeping proportions."""
    pts = list(points)
    lons, lats = [p[0] for p in pts], [p[1] for p in pts]
    west, east, south, north = min(lons), max(lons), min(lats), max(lats)
    kx = math.cos(math.radians((south + north) / 2))
    span_x, span_y = max((east - west) * kx, 1e-9), max(north - south, 1e-9)
    scale = min((width - 2 * PAD) / span_x, (max_height - 2 * PAD) / span_y)
    return Projection(west, north, kx, scale, span_x * scale + 2 * PAD, span_y * scale + 2 * PAD)


def centroid(ring: Sequence[Point]) -> Point:
    """The area centroid of a ring (its vertices' mean if it has no area)."""
    a = cx = cy = 0.0
    for (x0, y0), (x1, y1) in zip(ring, [*ring[1:], ring[0]], strict=True):
        cross = x0 * y1 - x1 * y0
        a += cross
        cx += (x0 + x1) * cross
        cy += (y0 + y1) * cross
    if abs(a) < 1e-12:
        return (sum(p[0] for p in ring) / len(ring), sum(p[1] for p in ring) / len(ring))
    return (cx / (3 * a), cy / (3 * a))


def _ring_area(ring: Sequence[Point]) -> float:
    return abs(sum(x0 * y1 - x1 * y0 for (x0, y0), (x1, y1) in zip(ring, [*ring[1:], ring[0]], strict=True))) / 2


def path_data(parts: list[list[Ring]], project: Callable[[Point], Point]) -> str:
    return " ".join(
        "M" + " L".join(f"{x:.1f} {y:.1f}" for x, y in (project(p) for p in ring)) + " Z"
        for part in parts
        for ring in part
        if ring
    )


def _patterns(colors: dict[str, str]) -> str:
    """Per level its colour and a hatch that tells it apart without colour: green plain, yellow dots, orange
    diagonal lines, red cross-hatch."""
    hatch = {
        "green": "",
        "yellow": '<circle cx="3" cy="3" r="1.1" fill="#000" fill-opacity="0.55"/>',
        "orange": '<path d="M0 6 L6 0" stroke="#000" stroke-opacity="0.55" stroke-width="1"/>',
        "red": '<path d="M0 6 L6 0 M0 0 L6 6" stroke="#000" stroke-opacity="0.6" stroke-width="1"/>',
    }
    return "".join(
        f'<pattern id="risk-{level}" width="6" height="6" patternUnits="userSpaceOnUse">'
        f'<rect width="6" height="6" fill="{colors[level]}" fill-opacity="0.75"/>{hatch[level]}</pattern>'
        for level in RISK_ORDER
    )


def grid_map(
    grids: list[dict[str, Any]],
    colors: dict[str, str],
    labels: dict[str, str],
    villages: Sequence[dict[str, Any] | None] = (),
) -> tuple[str, list]:
    """(svg, numbered grids) for the grids with a shape, numbered in the report's order; ("", []) when none has one.
    `colors` and `labels` are the report's colour and Chinese name of each risk level; `villages` the shapes drawn
    as thicker outlines over the grids (polygons, so that the map has exactly one path per grid)."""
    shaped = [(g, polygons(g.get("geometry"))) for g in grids]
    shaped = [(g, parts) for g, parts in shaped if parts]
    if not shaped:
        return "", []
    outlines = [ring for v in villages for part in polygons(v) for ring in part if ring]
    project = projection(
        [p for _, parts in shaped for part in parts for ring in part for p in ring]
        + [p for ring in outlines for p in ring]
    )
    width, height = project.width, project.height + LEGEND_HEIGHT
    paths, numbers, index = [], [], []
    size = 10 if len(shaped) > 30 else 13  # a village's few grids are large: bigger numbers
    for i, (g, parts) in enumerate(shaped, 1):
        biggest = max((part[0] for part in parts if part), key=_ring_area)
        x, y = centroid([project(p) for p in biggest])
        name = html.escape(g["name"])
        paths.append(
            f'<path d="{path_data(parts, project)}" fill="url(#risk-{g["risk"]})" fill-rule="evenodd" '
            f'stroke="#333" stroke-width="0.6" data-grid="{html.escape(g["id"])}" data-risk="{g["risk"]}">'
            f"<title>{i} {name}：{labels[g['risk']]}</title></path>"
        )
        numbers.append(
            f'<text x="{x:.1f}" y="{y + size / 3:.1f}" font-size="{size}" text-anchor="middle" fill="#000" '
            f'stroke="#fff" stroke-width="2.5" paint-order="stroke">{i}</text>'
        )
        index.append((i, g))
    borders = "".join(
        '<polygon points="' + " ".join(f"{x:.1f},{y:.1f}" for x, y in (project(p) for p in ring)) + '" '
        'fill="none" stroke="#000" stroke-width="1.6" class="village"/>'
        for ring in outlines
    )
    legend = "".join(
        f'<rect x="{PAD + j * 96}" y="{project.height + 6:.0f}" width="18" height="14" fill="url(#risk-{level})" '
        f'stroke="#333" stroke-width="0.6"/><text x="{PAD + j * 96 + 24}" y="{project.height + 17:.0f}" '
        f'font-size="11">{labels[level]}色 {sum(1 for g, _ in shaped if g["risk"] == level)}</text>'
        for j, level in enumerate(RISK_ORDER)
    )
    svg = (
        f'<svg id="grid-map" width="{width:.0f}" height="{height:.0f}" viewBox="0 0 {width:.0f} {height:.0f}" '
        f'role="img" aria-label="网格风险分布图"><defs>{_patterns(colors)}</defs>'
        f"{''.join(paths)}{borders}{''.join(numbers)}{legend}</svg>"
    )
    return svg, index
