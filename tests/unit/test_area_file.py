import pytest

from govctl import areas
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
