"""Point → grid on hand-made squares: inside, outside, on a shared boundary, distance to a grid."""

from __future__ import annotations

import pytest

from cases.grid_locator import GridIndex, metres_between


def square(x0: float, y0: float, x1: float, y1: float) -> dict:
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


# two grids side by side sharing the edge lon = 111.45; "b" is given first to show the order does not matter
INDEX = GridIndex(
    [
        ("t.v.b", square(111.45, 31.70, 111.50, 31.75)),
        ("t.v.a", square(111.40, 31.70, 111.45, 31.75)),
        (
            "t.v.m",
            {
                "type": "MultiPolygon",
                "coordinates": [
                    square(111.60, 31.70, 111.61, 31.71)["coordinates"],
                    square(111.70, 31.70, 111.71, 31.71)["coordinates"],
                ],
            },
        ),
    ]
)


def test_a_point_inside_a_grid_is_placed_in_it():
    assert INDEX.grid_at(111.42, 31.72) == "t.v.a"
    assert INDEX.grid_at(111.47, 31.72) == "t.v.b"
    assert INDEX.grid_at(111.705, 31.705) == "t.v.m"  # the second part of a MultiPolygon


def test_a_point_outside_every_grid_is_in_none():
    assert INDEX.grid_at(111.30, 31.72) is None
    assert INDEX.grid_at(111.65, 31.705) is None  # between the parts of the MultiPolygon
    assert GridIndex([]).grid_at(111.42, 31.72) is None and len(GridIndex([])) == 0


def test_a_point_on_a_shared_boundary_goes_to_the_lowest_id():
    assert INDEX.grid_at(111.45, 31.72) == "t.v.a"  # shared edge
    assert INDEX.grid_at(111.45, 31.70) == "t.v.a"  # shared corner
    assert INDEX.grid_at(111.50, 31.72) == "t.v.b"  # an edge of one grid only
    assert GridIndex([("z", square(0, 0, 1, 1)), ("y", square(1, 0, 2, 1))]).grid_at(1, 0.5) == "y"


def test_distance_to_a_grid_in_metres():
    assert INDEX.distance_m("t.v.a", 111.42, 31.72) == 0.0
    assert INDEX.distance_m("t.v.a", 111.45, 31.72) == 0.0
    # 0.001° of longitude east of the edge at 31.72° N is about 94.6 m
    assert INDEX.distance_m("t.v.a", 111.451, 31.72) == pytest.approx(94.6, abs=1)
    assert 0 < (INDEX.distance_m("t.v.a", 111.4502, 31.72) or 0) < 30
    assert INDEX.distance_m("t.v.unknown", 111.42, 31.72) is None


def test_metres_between():
    assert metres_between(111.4, 31.7, 111.4, 31.7) == 0
    assert metres_between(111.4, 31.7, 111.4, 31.701) == pytest.approx(111.2, abs=0.5)
