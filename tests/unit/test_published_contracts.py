"""The committed AsyncAPI and OpenAPI documents (contracts/asyncapi, contracts/openapi)
are what `./gov contracts export` generates from the code now, and they say
what outside teams rely on."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from gov_contracts import topics
from gov_contracts.registry import REGISTRY
from govctl import contracts_export

ROOT = Path(__file__).resolve().parents[2]
CONTRACTS = ROOT / "contracts"


@pytest.fixture(scope="module")
def regenerated(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("contracts")
    contracts_export.export(out)
    return out


def _files(directory: Path) -> dict[str, str]:
    return {
        f"{sub}/{p.name}": p.read_text(encoding="utf-8")
        for sub in (contracts_export.ASYNCAPI_DIR, contracts_export.OPENAPI_DIR)
        for p in sorted((directory / sub).glob("*.json"))
    }


def test_committed_documents_are_not_stale(regenerated):
    fresh, committed = _files(regenerated), _files(CONTRACTS)
    assert sorted(committed) == sorted(fresh), "documents missing or left over: run ./gov contracts export"
    stale = [rel for rel in fresh if committed[rel] != fresh[rel]]
    assert not stale, f"stale {', '.join(stale)}: run ./gov contracts export and commit"
    assert contracts_export.check(CONTRACTS) == []


def test_a_stale_document_is_found(regenerated, tmp_path):
    import shutil

    copy = tmp_path / "contracts"
    shutil.copytree(regenerated, copy)
    doc = json.loads((copy / "openapi" / "cases.json").read_text(encoding="utf-8"))
    doc["paths"].pop(next(iter(doc["paths"])))
    (copy / "openapi" / "cases.json").write_text(contracts_export.dump(doc), encoding="utf-8")
    (copy / "asyncapi" / "gone.json").write_text("{}\n", encoding="utf-8")
    assert contracts_export.stale(copy) == ["openapi/cases.json", "asyncapi/gone.json"]


@pytest.mark.parametrize("service", contracts_export.SERVICES)
def test_asyncapi_declares_subscriptions_and_every_produced_event(service):
    doc = json.loads((CONTRACTS / "asyncapi" / f"{service}.json").read_text(encoding="utf-8"))
    assert doc["asyncapi"].startswith("3.")
    spec = contracts_export.service_spec(service)
    received = {
        ch["address"]
        for name, ch in doc["channels"].items()
        if any(
            op["action"] == "receive" and op["channel"]["$ref"] == f"#/channels/{name}"
            for op in doc["operations"].values()
        )
    }
    assert received == set(spec.all_topics()), f"{service} receives {received}"
    for op in doc["operations"].values():
        if op["action"] == "receive":
            assert op["bindings"]["kafka"]["groupId"]["enum"] == [service]
    sent = {
        name: doc["channels"][op["channel"]["$ref"].split("/")[-1]]["address"]
        for name, op in doc["operations"].items()
        if op["action"] == "send"
    }
    produced = {t: et.topic for t, et in REGISTRY.items() if et.producer == service}
    assert sent == produced
    for type_name in produced:
        et = REGISTRY[type_name]
        msg = doc["components"]["messages"][f"{type_name}:Message"]
        assert msg["payload"]["$ref"] == f"#/components/schemas/{et.model.__name__}"
        assert msg["headers"]["properties"]["ce_type"]["const"] == type_name
        assert set(contracts_export._CE_REQUIRED) <= set(msg["headers"]["required"])
        schema = doc["components"]["schemas"][et.model.__name__]
        assert set(schema["properties"]) == set(et.model.model_fields)


def test_cases_publishes_case_events_on_the_cases_topic():
    doc = json.loads((CONTRACTS / "asyncapi" / "cases.json").read_text(encoding="utf-8"))
    assert doc["channels"]["gov.case.escalated.v1"]["address"] == topics.CASES


@pytest.mark.parametrize("service", contracts_export.SERVICES)
def test_openapi_has_the_operations_endpoints(service):
    doc = json.loads((CONTRACTS / "openapi" / f"{service}.json").read_text(encoding="utf-8"))
    assert doc["openapi"].startswith("3.")
    for path in ("/healthz", "/readyz", "/metrics"):
        assert path in doc["paths"], f"{service}: {path} missing"
    assert doc["info"]["title"] == contracts_export.service_spec(service).title
