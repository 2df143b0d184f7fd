"""Committed JSON Schemas match the code, and a change that would break an
existing subscriber is detected."""

from pathlib import Path

import pytest

from gov_contracts import registry, schemas
from gov_contracts.base import EventModel

ROOT = Path(__file__).resolve().parents[2]


def test_committed_schemas_match_the_code_and_nothing_breaks():
    assert schemas.check(ROOT / "contracts") == []


class V1(EventModel):
    case_id: str
    count: int
    note: str | None = None


class FieldRemoved(EventModel):
    case_id: str


class FieldRetyped(EventModel):
    case_id: str
    count: str
    note: str | None = None


class FieldOptional(EventModel):
    case_id: str
    count: int | None = None
    note: str | None = None


class FieldAdded(EventModel):
    case_id: str
    count: int
    note: str | None = None
    extra: str | None = None


def schema_of(model):
    return model.model_json_schema(mode="serialization")


@pytest.mark.parametrize(
    "new,problem",
    [
        (FieldRemoved, "field 'count' removed"),
        (FieldRetyped, "field 'count' changed type"),
        (FieldOptional, "field 'count' changed type"),
    ],
)
def test_breaking_changes_are_found(new, problem):
    found = schemas.breaking_changes("t", schema_of(V1), schema_of(new))
    assert any(problem in p for p in found), found


def test_adding_an_optional_field_is_compatible():
    assert schemas.breaking_changes("t", schema_of(V1), schema_of(FieldAdded)) == []


@pytest.fixture
def exported(tmp_path, monkeypatch):
    schemas.export(tmp_path)
    return tmp_path


def test_renaming_an_event_type_is_breaking(exported, monkeypatch):
    renamed = {("gov.area.changed.v1" if k == "gov.area.upserted.v1" else k): v for k, v in registry.REGISTRY.items()}
    monkeypatch.setattr(schemas, "REGISTRY", renamed)
    problems = schemas.check(exported)
    assert any("gov.area.upserted.v1: event type removed or renamed" in p for p in problems)
    with pytest.raises(ValueError, match="refusing to export breaking changes"):
        schemas.export(exported)


def test_a_compatible_change_makes_the_committed_files_stale(exported, monkeypatch):
    from gov_contracts.areas import AreaUpserted

    class AreaUpsertedPlus(AreaUpserted):
        population: int | None = None

    et = registry.EventType("gov.area.upserted.v1", AreaUpsertedPlus, "gov.areas.v1", "govctl")
    monkeypatch.setattr(schemas, "REGISTRY", {**registry.REGISTRY, et.name: et})
    problems = schemas.check(exported)
    assert problems and "stale schema(s) gov.area.upserted.v1" in problems[-1]
    assert not any(p.startswith("breaking") for p in problems)
