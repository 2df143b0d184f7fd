import hashlib
import json

import pytest
import shapely
from shapely.geometry import shape

from govctl import area_shapes, areas
from govctl.areas import AreaFileError


def test_the_demo_tree_is_changping():
    events, version = areas.load(areas.DEFAULT_FILE)
    kinds = [e.kind.value for e in events]
    assert kinds.count("town") == 1
    assert 15 <= kinds.count("village") + kinds.count("community") <= 17
    assert 110 <= kinds.count("grid") <= 130
    by_id = {e.id: e for e in events}
    named = {
        "changping.kongjiafan": "孔家畈村",
        "changping.zhongguping": "钟鼓坪村",
        "changping.changping_community": "长坪社区",
    }
    for area_id, name in named.items():
        assert by_id[area_id].name == name and not by_id[area_id].invented
    assert all(e.invented for e in events if e.id.count(".") == 1 and e.id not in named)
    assert all(e.invented for e in events if e.kind.value == "grid")
    # parents come before children, so a consumer never sees an orphan
    seen = set()
    for e in events:
        assert e.parent_id is None or e.parent_id in seen
        seen.add(e.id)
    assert {e.tree_version for e in events} == {version}


def test_event_ids_are_stable_per_tree_version():
    assert areas.event_id("changping", "v1") == areas.event_id("changping", "v1")
    assert areas.event_id("changping", "v1") != areas.event_id("changping", "v2")


def bad(tmp_path, body):
    p = tmp_path / "areas.yaml"
    p.write_text("areas:\n  - {id: changping, kind: town, name: 长坪镇}\n" + body, encoding="utf-8")
    return p


@pytest.mark.parametrize(
    "body,expected",
    [
        ("  - {id: changping.a, kind: hamlet, name: 甲村}\n", "areas[1] (changping.a): field 'kind'"),
        ("  - {id: changping.a, kind: village, name: ''}\n", "areas[1] (changping.a): field 'name'"),
        ("  - {id: Changping.A, kind: village, name: 甲}\n", "areas[1] (Changping.A): field 'id'"),
        ("  - {id: changping.a, kind: village, name: 甲, colour: red}\n", "areas[1] (changping.a): field 'colour'"),
        (
            "  - {id: changping.a.g1, kind: grid, name: 网格}\n",
            "areas[1] (changping.a.g1): field 'id': parent changping.a",
        ),
        ("  - {id: changping.g1, kind: grid, name: 网格}\n", "areas[1] (changping.g1): field 'kind'"),
        (
            "  - {id: changping.a, kind: village, name: 甲}\n  - {id: changping.a, kind: village, name: 乙}\n",
            "areas[2] (changping.a): field 'id': duplicate",
        ),
        ("  - {kind: village, name: 甲}\n", "areas[1]: field 'id'"),
    ],
)
def test_a_bad_entry_is_named_with_its_field(tmp_path, body, expected):
    with pytest.raises(AreaFileError) as e:
        areas.load(bad(tmp_path, body))
    assert expected in str(e.value)


def test_not_yaml_or_wrong_shape(tmp_path):
    p = tmp_path / "x.yaml"
    p.write_text("areas: [", encoding="utf-8")
    with pytest.raises(AreaFileError, match="not valid YAML"):
        areas.load(p)
    p.write_text("places: []", encoding="utf-8")
    with pytest.raises(AreaFileError, match="top-level 'areas:'"):
        areas.load(p)


# ---- shapes ------------------------------------------------------------------------------------------


def square(x0, y0, x1, y1):
    return {"type": "Polygon", "coordinates": [[[x0, y0], [x1, y0], [x1, y1], [x0, y1], [x0, y0]]]}


def flow(geometry):
    return json.dumps(geometry)


VILLAGE = square(111.40, 31.70, 111.50, 31.80)


def shaped(tmp_path, grids, village=VILLAGE):
    """A town, one village with the given shape, and grids (id suffix, geometry or None)."""
    lines = [
        "areas:",
        "  - {id: changping, kind: town, name: 长坪镇}",
        f"  - {{id: changping.a, kind: village, name: 甲村{', geometry: ' + flow(village) if village else ''}}}",
    ]
    for suffix, geometry in grids:
        extra = f", geometry: {flow(geometry)}" if geometry else ""
        lines.append(f"  - {{id: changping.a.{suffix}, kind: grid, name: 网格{suffix}{extra}}}")
    p = tmp_path / "areas.yaml"
    p.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return p


def test_the_demo_tree_has_a_shape_for_every_area_partitioning_its_parent():
    events, _ = areas.load(areas.DEFAULT_FILE)
    geoms = {e.id: shape(e.geometry.model_dump(mode="json")) for e in events if e.geometry is not None}
    assert len(geoms) == len(events)
    minx, miny, maxx, maxy = geoms["changping"].bounds
    assert 111.2 < minx < maxx < 111.7 and 31.6 < miny < maxy < 32.0
    for parent_id in {e.parent_id for e in events if e.parent_id}:
        children = [geoms[e.id] for e in events if e.parent_id == parent_id]
        assert shapely.union_all(children).symmetric_difference(geoms[parent_id]).area < 1e-9, parent_id
    for g in geoms.values():
        assert g.exterior.is_ccw  # RFC 7946: exterior rings counter-clockwise
        assert all(len(repr(c).split(".")[-1]) <= 6 for xy in g.exterior.coords for c in xy)


def test_the_shapes_are_generated_deterministically_and_kept_in_the_file(tmp_path):
    copy = tmp_path / "changping.yaml"
    copy.write_text(areas.DEFAULT_FILE.read_text(encoding="utf-8"), encoding="utf-8")
    assert area_shapes.write(copy) == 137
    assert copy.read_text(encoding="utf-8") == areas.DEFAULT_FILE.read_text(encoding="utf-8")


def test_shapes_are_carried_by_the_events_and_change_the_tree_version(tmp_path):
    g1, g2 = square(111.40, 31.70, 111.45, 31.80), square(111.45, 31.70, 111.50, 31.80)
    events, version = areas.load(shaped(tmp_path, [("g1", g1), ("g2", g2)]))
    by_id = {e.id: e for e in events}
    assert by_id["changping"].geometry is None
    shape_g1 = by_id["changping.a.g1"].geometry
    assert shape_g1 is not None and shape_g1.model_dump(mode="json") == g1
    _, moved = areas.load(shaped(tmp_path, [("g1", g1), ("g2", square(111.45, 31.70, 111.50, 31.79))]))
    assert moved != version
    # a tree without shapes keeps the version it had before shapes existed
    _, bare = areas.load(shaped(tmp_path, [("g1", None)], village=None))
    before_shapes = "\n".join(
        f"{i}\t{k}\t{n}\tFalse"
        for i, k, n in [
            ("changping", "town", "长坪镇"),
            ("changping.a", "village", "甲村"),
            ("changping.a.g1", "grid", "网格g1"),
        ]
    )
    assert bare == hashlib.sha256(before_shapes.encode()).hexdigest()[:16]


def test_shapes_may_be_partial_and_a_multipolygon_is_a_shape(tmp_path):
    parts = {
        "type": "MultiPolygon",
        "coordinates": [
            square(111.40, 31.70, 111.42, 31.72)["coordinates"],
            square(111.45, 31.75, 111.47, 31.77)["coordinates"],
        ],
    }
    events, _ = areas.load(
        shaped(tmp_path, [("g1", parts), ("g2", None), ("g3", square(111.48, 31.70, 111.50, 31.72))])
    )
    assert [e.geometry.type if e.geometry else None for e in events][-3:] == ["MultiPolygon", None, "Polygon"]
    # no shape for the village: nothing to lie inside of, siblings still may not overlap
    areas.load(shaped(tmp_path, [("g1", square(111.0, 31.0, 111.1, 31.1))], village=None))


@pytest.mark.parametrize(
    "grids,expected",
    [
        (
            [("g1", square(111.40, 31.70, 111.46, 31.80)), ("g2", square(111.45, 31.70, 111.50, 31.80))],
            "areas[3] (changping.a.g2): field 'geometry': overlaps changping.a.g1 (areas[2]",
        ),
        (
            [("g1", square(111.40, 31.70, 111.45, 31.80)), ("g2", square(111.45, 31.70, 111.52, 31.80))],
            "areas[3] (changping.a.g2): field 'geometry': lies outside its parent changping.a",
        ),
        (
            # a bow tie: the ring crosses itself
            [
                (
                    "g1",
                    {
                        "type": "Polygon",
                        "coordinates": [
                            [[111.40, 31.70], [111.45, 31.75], [111.45, 31.70], [111.40, 31.75], [111.40, 31.70]]
                        ],
                    },
                )
            ],
            "areas[2] (changping.a.g1): field 'geometry': not a valid polygon: Self-intersection",
        ),
        (
            [
                (
                    "g1",
                    {
                        "type": "Polygon",
                        "coordinates": [[[111.40, 31.70], [111.45, 31.70], [111.45, 31.75], [111.40, 31.75]]],
                    },
                )
            ],
            "areas[2] (changping.a.g1): field 'geometry.Polygon.coordinates.0': Value error, a linear ring must end",
        ),
        (
            [("g1", {"type": "Polygon", "coordinates": [[[111.40, 31.70], [111.45, 31.70], [111.40, 31.70]]]})],
            "areas[2] (changping.a.g1): field 'geometry.Polygon.coordinates.0'",
        ),
        (
            [
                (
                    "g1",
                    {
                        "type": "Polygon",
                        "coordinates": [[[31.70, 111.40], [31.75, 111.40], [31.75, 111.45], [31.70, 111.40]]],
                    },
                )
            ],
            "areas[2] (changping.a.g1): field 'geometry.Polygon.coordinates.0.0.1'",
        ),
        (
            [("g1", {"type": "Point", "coordinates": [111.40, 31.70]})],
            "areas[2] (changping.a.g1): field 'geometry'",
        ),
        (
            [
                (
                    "g1",
                    {
                        "type": "Polygon",
                        "coordinates": [[[111.40, 31.70], [111.45, 31.70], [111.47, 31.70], [111.40, 31.70]]],
                    },
                )
            ],
            "areas[2] (changping.a.g1): field 'geometry': ",
        ),
    ],
)
def test_a_bad_shape_is_named_with_its_entry_and_field(tmp_path, grids, expected):
    with pytest.raises(AreaFileError) as e:
        areas.load(shaped(tmp_path, grids))
    message = str(e.value)
    assert expected in message and "\n" not in message


def test_a_village_outside_the_town_is_refused(tmp_path):
    p = tmp_path / "areas.yaml"
    p.write_text(
        "areas:\n"
        f"  - {{id: changping, kind: town, name: 长坪镇, geometry: {flow(square(111.3, 31.7, 111.6, 31.9))}}}\n"
        f"  - {{id: changping.a, kind: village, name: 甲村, geometry: {flow(square(111.5, 31.8, 111.7, 31.9))}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(
        AreaFileError, match=r"areas\[1\] \(changping.a\): field 'geometry': lies outside its parent changping"
    ):
        areas.load(p)


def test_a_strip_narrower_than_the_tolerance_is_no_overlap_and_not_outside(tmp_path):
    # 0.5 m into the neighbour and beyond the village: rounding or a survey, not an overlap
    g1 = square(111.40, 31.70, 111.450000, 31.80)
    g2 = square(111.449995, 31.70, 111.500005, 31.80)
    areas.load(shaped(tmp_path, [("g1", g1), ("g2", g2)]))
    # 10 m is an overlap
    with pytest.raises(AreaFileError, match="overlaps changping.a.g1"):
        areas.load(shaped(tmp_path, [("g1", g1), ("g2", square(111.4499, 31.70, 111.50, 31.80))]))
