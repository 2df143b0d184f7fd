"""The weekly report's grid map (reporting.grid_map), pure: the projection, the shapes read from GeoJSON, one path
per grid filled by its risk level, and no map when no grid has a shape."""

from __future__ import annotations

import math
import re

import pytest

from reporting import grid_map, render


def square(west, south, side=1.0):
    ring = [[west, south], [west + side, south], [west + side, south + side], [west, south + side], [west, south]]
    return {"type": "Polygon", "coordinates": [ring]}


def grid(i, risk, geometry):
    return {"id": f"t.v.g{i}", "name": f"第{i}网格", "risk": risk, "geometry": geometry}


def test_the_projection_scales_longitude_by_the_cosine_of_latitude_and_puts_north_up():
    p = grid_map.projection([(10.0, 59.5), (11.0, 60.5)], width=400, max_height=10_000)
    # one degree of longitude at 60°N is half a degree of latitude
    assert p.kx == pytest.approx(math.cos(math.radians(60)))
    (x0, y0), (x1, y1) = p((10.0, 59.5)), p((11.0, 60.5))
    assert (x0, x1) == (pytest.approx(grid_map.PAD), pytest.approx(400 - grid_map.PAD))  # fills the width
    assert y1 == pytest.approx(grid_map.PAD) and y0 > y1  # north is up
    assert (y0 - y1) == pytest.approx(2 * (x1 - x0), rel=1e-3)  # twice as tall as wide
    assert p.width == pytest.approx(400) and p.height == pytest.approx(y0 + grid_map.PAD)


def test_a_tall_area_is_fitted_to_the_height():
    p = grid_map.projection([(0.0, 0.0), (0.1, 10.0)], width=400, max_height=300)
    assert p.height == pytest.approx(300) and p.width < 400


def test_shapes_are_read_from_polygons_and_multipolygons_only():
    assert grid_map.polygons(square(0, 0)) == [[[(0, 0), (1, 0), (1, 1), (0, 1), (0, 0)]]]
    multi = {"type": "MultiPolygon", "coordinates": [square(0, 0)["coordinates"], square(2, 0)["coordinates"]]}
    assert len(grid_map.polygons(multi)) == 2
    assert grid_map.polygons(None) == [] and grid_map.polygons({"type": "Point", "coordinates": [0, 0]}) == []
    assert grid_map.centroid([(0, 0), (2, 0), (2, 2), (0, 2), (0, 0)]) == pytest.approx((1, 1))


def test_one_path_per_grid_filled_by_its_risk_level_with_a_legend_and_numbers():
    grids = [
        grid(1, "red", square(111.30, 31.70, 0.01)),
        grid(2, "green", square(111.31, 31.70, 0.01)),
        grid(3, "orange", None),  # no shape: not drawn, numbered neither
        grid(4, "yellow", square(111.30, 31.71, 0.01)),
    ]
    svg, index = grid_map.grid_map(grids, render.RISK_COLOR, render.RISK_ZH)
    paths = re.findall(r'<path d="([^"]*)" fill="url\(#risk-(\w+)\)"[^>]*data-grid="([^"]+)"', svg)
    assert [(grid_id, fill) for _, fill, grid_id in paths] == [
        ("t.v.g1", "red"),
        ("t.v.g2", "green"),
        ("t.v.g4", "yellow"),
    ]
    assert [(i, g["id"]) for i, g in index] == [(1, "t.v.g1"), (2, "t.v.g2"), (3, "t.v.g4")]
    for level, color in render.RISK_COLOR.items():  # each pattern: the report's colour, and its own hatch
        assert re.search(rf'<pattern id="risk-{level}"[^>]*><rect[^>]*fill="{color}"', svg)
    assert "红色 1" in svg and "橙色 0" in svg and "黄色 1" in svg and "绿色 1" in svg  # the legend
    assert re.findall(r'paint-order="stroke">(\d+)</text>', svg) == ["1", "2", "3"]
    size = re.search(r'<svg id="grid-map" width="(\d+)"', svg)
    assert size is not None
    width = float(size.group(1))
    assert width <= grid_map.MAP_WIDTH  # fits an A4 page
    xs = [float(x) for d, _, _ in paths for x in re.findall(r"[ML]([\d.]+) ", d)]
    assert min(xs) >= 0 and max(xs) <= width


def test_no_map_when_no_grid_has_a_shape():
    assert grid_map.grid_map([grid(1, "red", None)], render.RISK_COLOR, render.RISK_ZH) == ("", [])
    assert render._map_section([grid(1, "red", None)]) == ""
    section = render._map_section([grid(1, "red", square(0, 0)), grid(2, "green", None)])
    assert 'id="grid-map"' in section and "另有 1 个网格暂无边界数据" in section
