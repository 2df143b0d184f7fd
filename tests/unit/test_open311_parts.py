"""The parts of the Open311 router without a server: the severity words of its service
definitions, the form's checks, and the one mapping of errors to Open311's list."""

from __future__ import annotations

import xml.etree.ElementTree as ElementTree
from pathlib import Path

import pytest

from cases.api.open311 import errors, forms, views, wire
from cases.domain.policy import load
from gov_contracts.errors import Conflict, Forbidden, InvalidInput, NotFound
from gov_contracts.vocabulary import SEVERITY_LABEL
from govkit.problems import Problem

POLICY = load(Path(__file__).resolve().parents[2] / "services" / "cases" / "config" / "policy.yaml")
FORM = {
    "api_key": "k",
    "service_code": "103",
    "lat": "31.7",
    "long": "111.8",
    "description": "三组与四组山林边界纠纷",
    "attribute[grid_id]": "changping.kongjiafan.g03",
}


def test_severity_words_are_the_one_table():
    severity = next(a for a in views.attributes("dispute.land") if a["code"] == "severity")
    assert severity["values"] == [{"key": k, "name": v} for k, v in SEVERITY_LABEL.items()]
    assert f"medium（{SEVERITY_LABEL['medium']}）" in severity["datatype_description"]
    assert f"critical（{SEVERITY_LABEL['critical']}）" in severity["datatype_description"]
    land = views.service(POLICY, "dispute.land", POLICY.get("dispute.land"))
    assert land["description"].endswith(f"（默认等级：{SEVERITY_LABEL['medium']}）")
    for text in (str(views.attributes("dispute.land")), land["description"]):
        assert "紧急" not in text and "低" not in text


def test_the_form_becomes_a_case():
    new = forms.new_case(
        {
            **FORM,
            "first_name": "晓明",
            "last_name": "欧阳",
            "phone": "(138) 1234-1234",
            "attribute[parties]": "王某,,三组村民；赵某,13800000000",
        },
        POLICY,
    )
    assert (new.category, new.severity, new.source, new.lat, new.lon) == (
        "dispute.land",
        "medium",
        "open311",
        31.7,
        111.8,
    )
    assert new.reporter_name == "欧阳晓明" and new.reporter_phone == "138 1234-1234"
    assert new.parties == [{"name": "王某", "role": "三组村民"}, {"name": "赵某", "phone": "13800000000"}]


@pytest.mark.parametrize(
    "change,field",
    [
        ({"service_code": "999"}, "service_code"),
        ({"description": "x"}, "description"),
        ({"long": ""}, "long"),
        ({"lat": "", "long": ""}, "lat/long"),
        ({"attribute[grid_id]": "G03"}, "attribute[grid_id]"),
        ({"attribute[severity]": "urgent"}, "attribute[severity]"),
        ({"media_url": "ftp://x"}, "media_url"),
        ({"phone": "call me"}, "phone"),
        ({"attribute[parties]": "a,b,c,d"}, "attribute[parties]"),
    ],
)
def test_a_bad_field_is_a_400_naming_it(change, field):
    with pytest.raises(errors.Open311Error) as caught:
        forms.new_case({**FORM, **change}, POLICY)
    assert caught.value.code == 400 and caught.value.description.startswith(f"{field}: ")


def test_the_status_filter_stands_for_the_internal_statuses():
    def statuses(status):
        return forms.request_filter(
            POLICY, service_request_id=None, service_code=None, start_date=None, end_date=None, status=status
        ).statuses

    assert "closed" in statuses("closed") and "accepted" in statuses("open")
    assert statuses("open,closed") == [] and statuses(None) == []
    with pytest.raises(errors.Open311Error, match="^status: "):
        statuses("pending")


@pytest.mark.parametrize(
    "raised,code,description",
    [
        (
            InvalidInput("body.grid_id", "'changping.x.g1' is not a known grid"),
            400,
            f"attribute[grid_id]: 'changping.x.g1' is not a known grid ({wire.GRID_HINT})",
        ),
        (
            Problem(422, "Invalid request", "body.grid_id: 'changping.x.g1' is not a known grid"),
            400,
            f"attribute[grid_id]: 'changping.x.g1' is not a known grid ({wire.GRID_HINT})",
        ),
        (
            Problem(422, "Invalid request", "query.status: contains a NUL character (U+0000)"),
            400,
            "status: contains a NUL character (U+0000)",
        ),
        (NotFound("no case CP-1"), 404, "no case CP-1"),
        (Forbidden("not yours"), 403, "not yours"),
        (Conflict("rated already"), 409, "rated already"),
    ],
)
def test_every_error_becomes_one_open311_entry(raised, code, description):
    got = errors._as_open311(raised)
    assert (got.code, got.description) == (code, description)


def test_errors_in_xml():
    r = wire.error_response(404, "service_code: unknown", "xml")
    root = ElementTree.fromstring(r.body)
    assert r.media_type == wire.XML_TYPE and root.tag == "errors"
    assert [(e.findtext("code"), e.findtext("description")) for e in root] == [("404", "service_code: unknown")]
