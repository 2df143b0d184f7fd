"""Plausible demo shapes for an area tree file: `./gov areas shapes [FILE]`.

The town is a jittered 4 x 4 lattice of quadrilaterals around Changping
(lon 111.30-111.60, lat 31.70-31.90); each cell is a village or community, and
each village is cut into its grids: one to three rows of jittered, skewed
columns. Deterministic (a fixed seed, the file's ids in order), and exact: every
point on a line two shapes share is computed once, rounded to 6 decimals and
put into the rings of both, so the villages partition the town and the grids
their village with no gap or overlap beyond the rounding.

The file's header comment and its one-entry-per-line style are kept; only the
`geometry` of every area is (re)written.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from govctl.areas import AreaFileError, load

WEST, EAST, SOUTH, NORTH = 111.30, 111.60, 31.70, 31.90
CELLS = 4  # the town is CELLS x CELLS villages and communities
SEED = "changping-area-shapes-1"

Point = tuple[float, float]


def _round(p: Point) -> Point:
    return (round(p[0], 6), round(p[1], 6))


def _lerp(a: Point, b: Point, t: float) -> Point:
    return _round((a[0] + (b[0] - a[0]) * t, a[1] + (b[1] - a[1]) * t))


@dataclass
class _Line:
    """A straight line shapes share: its points by parameter t (0 at start, 1 at end)."""

    start: Point
    end: Point
    points: dict[float, Point] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.points[0.0] = self.start
        self.points[1.0] = self.end

    def at(self, t: float) -> Point:
        if t not in self.points:
            self.points[t] = _lerp(self.start, self.end, t)
        return self.points[t]

    def run(self, t1: float, t2: float) -> list[Point]:
        """The points from t1 to t2 (either direction), both ends included."""
        lo, hi = min(t1, t2), max(t1, t2)
        ts = sorted(t for t in self.points if lo <= t <= hi)
        return [self.points[t] for t in (ts if t1 <= t2 else reversed(ts))]


def _ring(*runs: list[Point]) -> list[list[float]]:
    out: list[Point] = []
    for run in runs:
        for p in run:
            if not out or out[-1] != p:
                out.append(p)
    if out[0] != out[-1]:
        out.append(out[0])
    return [[x, y] for x, y in out]


def _polygon(ring: list[list[float]]) -> dict[str, Any]:
    return {"type": "Polygon", "coordinates": [ring]}


@dataclass
class _Village:
    """Cell (i, j) of the lattice cut into rows of grids; rows[k] is the line between row k-1 and row k."""

    i: int
    j: int
    rows: list[_Line]
    left_v: list[float]  # where each row line meets the left edge (0 ... 1)
    right_v: list[float]
    columns: list[list[tuple[float, float]]]  # per row: column boundaries as (u at the bottom, u at the top)


def _lattice(rng: random.Random) -> list[list[Point]]:
    """Nodes [i][j] (i east, j north), jittered; the four corners pulled in so the outline is not a square."""
    dx, dy = (EAST - WEST) / CELLS, (NORTH - SOUTH) / CELLS
    nodes = []
    for i in range(CELLS + 1):
        column = []
        for j in range(CELLS + 1):
            x, y = WEST + i * dx, SOUTH + j * dy
            x += rng.uniform(-0.16, 0.16) * dx
            y += rng.uniform(-0.16, 0.16) * dy
            if i in (0, CELLS) and j in (0, CELLS):  # a corner: towards the centre
                cx, cy = (WEST + EAST) / 2, (SOUTH + NORTH) / 2
                pull = rng.uniform(0.1, 0.16)
                x, y = x + (cx - x) * pull, y + (cy - y) * pull
            column.append(_round((x, y)))
        nodes.append(column)
    return nodes


def _cut(rng: random.Random, i: int, j: int, n: int, h: dict, v: dict) -> _Village:
    """Cut village cell (i, j) into n grids, registering the points on the lines it shares."""
    row_count = 1 if n <= 3 else 2 if n <= 8 else 3
    per_row = [n // row_count + (1 if k < n % row_count else 0) for k in range(row_count)]
    left, right = v[i, j], v[i + 1, j]
    left_v, right_v = [0.0], [0.0]
    for k in range(1, row_count):
        base = k / row_count
        left_v.append(round(base + rng.uniform(-0.12, 0.12) / row_count, 4))
        right_v.append(round(base + rng.uniform(-0.12, 0.12) / row_count, 4))
    left_v.append(1.0)
    right_v.append(1.0)
    rows = [h[i, j]]
    for k in range(1, row_count):
        rows.append(_Line(left.at(left_v[k]), right.at(right_v[k])))
    rows.append(h[i, j + 1])
    columns = []
    for k, cols in enumerate(per_row):
        bounds = [(0.0, 0.0)]
        for m in range(1, cols):
            base = m / cols
            bot = round(base + rng.uniform(-0.2, 0.2) / cols, 4)
            top = round(bot + rng.uniform(-0.1, 0.1) / cols, 4)
            bounds.append((bot, top))
        bounds.append((1.0, 1.0))
        for bot, top in bounds:
            rows[k].at(bot)
            rows[k + 1].at(top)
        columns.append(bounds)
    return _Village(i, j, rows, left_v, right_v, columns)


def _grid_rings(village: _Village, v: dict) -> list[list[list[float]]]:
    left, right = v[village.i, village.j], v[village.i + 1, village.j]
    rings = []
    for k, bounds in enumerate(village.columns):
        below, above = village.rows[k], village.rows[k + 1]
        for m in range(len(bounds) - 1):
            (a_bot, a_top), (b_bot, b_top) = bounds[m], bounds[m + 1]
            east = right.run(village.right_v[k], village.right_v[k + 1]) if m + 1 == len(bounds) - 1 else []
            west = left.run(village.left_v[k + 1], village.left_v[k]) if m == 0 else []
            rings.append(_ring(below.run(a_bot, b_bot), east, above.run(b_top, a_top), west))
    return rings


def shapes(children: dict[str, list[str]], town: str) -> dict[str, dict[str, Any]]:
    """GeoJSON Polygons for the town, its villages and communities (children[town]), and their grids."""
    villages = children.get(town, [])
    if len(villages) > CELLS * CELLS:
        raise AreaFileError(f"area shapes: at most {CELLS * CELLS} villages and communities, found {len(villages)}")
    rng = random.Random(SEED)
    nodes = _lattice(rng)
    h = {(i, j): _Line(nodes[i][j], nodes[i + 1][j]) for i in range(CELLS) for j in range(CELLS + 1)}
    v = {(i, j): _Line(nodes[i][j], nodes[i][j + 1]) for i in range(CELLS + 1) for j in range(CELLS)}
    # the first village or community (the town seat) near the middle, the others row by row around it
    cells = [(i, j) for j in range(CELLS) for i in range(CELLS)]
    seat = (CELLS // 2 - 1, CELLS // 2 - 1)
    cells.remove(seat)
    cells.insert(0, seat)
    cut = {vid: _cut(rng, *cells[n], max(1, len(children.get(vid, []))), h, v) for n, vid in enumerate(villages)}
    out: dict[str, dict[str, Any]] = {}
    for vid, village in cut.items():  # every point registered: now the rings
        i, j = village.i, village.j
        out[vid] = _polygon(_ring(h[i, j].run(0, 1), v[i + 1, j].run(0, 1), h[i, j + 1].run(1, 0), v[i, j].run(1, 0)))
        for gid, ring in zip(children.get(vid, []), _grid_rings(village, v), strict=False):
            out[gid] = _polygon(ring)
    if len(villages) == CELLS * CELLS:
        outline = [h[i, 0].run(0, 1) for i in range(CELLS)]
        outline += [v[CELLS, j].run(0, 1) for j in range(CELLS)]
        outline += [h[i, CELLS].run(1, 0) for i in reversed(range(CELLS))]
        outline += [v[0, j].run(1, 0) for j in reversed(range(CELLS))]
        out[town] = _polygon(_ring(*outline))
    return out


def _scalar(value: Any) -> str:
    """A plain YAML flow scalar when it reads back the same, else a JSON (double-quoted) string."""
    text = str(value)
    if isinstance(value, str):
        try:
            plain = yaml.safe_load(f"[{text}]") == [value] and text.strip() == text and text
        except yaml.YAMLError:
            plain = False
        return text if plain else json.dumps(value, ensure_ascii=False)
    return json.dumps(value, ensure_ascii=False)


def _entry_line(entry: dict[str, Any]) -> str:
    parts = []
    for key, value in entry.items():
        if key == "geometry":
            coords = json.dumps(value["coordinates"], separators=(", ", ": "))
            parts.append(f"geometry: {{type: {value['type']}, coordinates: {coords}}}")
        else:
            parts.append(f"{key}: {_scalar(value)}")
    return "  - {" + ", ".join(parts) + "}"


def write(path: Path) -> int:
    """(Re)write the geometry of every area of the file; returns how many areas got a shape."""
    events, _ = load(path)  # the tree must be valid before it gets shapes
    text = Path(path).read_text(encoding="utf-8")
    doc = yaml.safe_load(text)
    children: dict[str, list[str]] = {}
    town = ""
    for e in events:
        if e.parent_id is None:
            town = e.id
        else:
            children.setdefault(e.parent_id, []).append(e.id)
    file_order = [entry["id"] for entry in doc["areas"]]
    for parent in children:  # the file's order, not the events' (sorted) order
        children[parent].sort(key=file_order.index)
    geometry = shapes(children, town)
    head = text[: text.index("\nareas:") + 1] if "\nareas:" in text else ""
    lines = [head + "areas:"]
    entries = []
    for entry in doc["areas"]:
        entry = {k: v for k, v in entry.items() if k != "geometry"}
        if entry["id"] in geometry:
            entry["geometry"] = geometry[entry["id"]]
        entries.append(entry)
        lines.append(_entry_line(entry))
    new_text = "\n".join(lines) + "\n"
    if yaml.safe_load(new_text)["areas"] != json.loads(json.dumps(entries)):
        raise AreaFileError(f"{path}: area shapes: the rewritten file would not read back the same")
    tmp = Path(path).with_suffix(".tmp")
    tmp.write_text(new_text, encoding="utf-8")
    try:
        load(tmp)  # the shapes themselves pass the checks publishing makes
    except AreaFileError:
        tmp.unlink()
        raise
    tmp.replace(path)
    return len(geometry)
