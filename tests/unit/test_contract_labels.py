"""gov_contracts.labels: every code a subscriber meets in an event has a Chinese name, so a new status, level,
severity, category, task type or event type added without one fails here."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from cases.domain import policy as case_policy
from cases.domain.model import Status
from gov_contracts import REGISTRY, labels, vocabulary
from gov_contracts.areas import AreaKind
from gov_contracts.vocabulary import Level, Severity
from volunteers.domain.dispatch import ROLE_FIT

ROOT = Path(__file__).resolve().parents[2]
DEFAULT_POLICY = ROOT / "services" / "cases" / "config" / "policy.yaml"


def test_every_case_status_has_a_label():
    assert set(labels.STATUS_LABEL) == {s.value for s in Status}
    assert labels.STATUS_LABEL["suspended"] == "缓办中"
    assert labels.status_label(Status.accepted) == "已受理"


def test_every_level_and_severity_has_a_label_from_the_one_vocabulary_table():
    assert set(labels.LEVEL_LABEL) == {lv.value for lv in Level}
    assert set(labels.LEVEL_SHORT_LABEL) == {lv.value for lv in Level}
    assert set(labels.SEVERITY_LABEL) == {s.value for s in Severity}
    # re-exported, not copied: one table for the whole code base
    assert labels.LEVEL_LABEL is vocabulary.LEVEL_LABEL
    assert labels.SEVERITY_LABEL is vocabulary.SEVERITY_LABEL
    assert [labels.level_label(lv) for lv in vocabulary.LEVELS] == ["网格", "村(社区)", "镇", "县"]
    assert [labels.severity_label(s) for s in Severity] == ["一般", "较大", "重大", "特别重大"]
    assert labels.level_short_label("village") == "村级"


def test_every_category_of_the_default_policy_has_its_policy_name():
    doc = yaml.safe_load(DEFAULT_POLICY.read_text(encoding="utf-8"))
    names = {code: c["name"] for code, c in doc["categories"].items()}
    assert names, "the default policy lists no categories"
    assert names == labels.CATEGORY_LABEL
    # the service reads the same file the same way
    assert set(case_policy.load(DEFAULT_POLICY).categories) == set(names)


def test_every_task_type_and_task_status_has_a_label():
    assert set(labels.TASK_TYPE_LABEL) == set(ROLE_FIT) | set(case_policy.TASK_TYPES)
    assert set(labels.TASK_STATUS_LABEL) == {
        "open",
        "offered",
        "assigned",
        "in_progress",
        "completed",
        "cancelled",
        "unfilled",
    }


def test_every_registered_event_type_has_a_label():
    assert set(labels.EVENT_TYPE_LABEL) == set(REGISTRY)
    assert labels.event_type_label("gov.case.escalated.v1") == "案件升级"


def test_every_area_kind_and_deadline_has_a_label():
    assert set(labels.AREA_KIND_LABEL) == {k.value for k in AreaKind}
    assert set(labels.DEADLINE_LABEL) == {"accept", "resolve"}


@pytest.mark.parametrize(
    "table",
    [
        labels.CATEGORY_LABEL,
        labels.STATUS_LABEL,
        labels.LEVEL_SHORT_LABEL,
        labels.DEADLINE_LABEL,
        labels.TASK_TYPE_LABEL,
        labels.TASK_STATUS_LABEL,
        labels.AREA_KIND_LABEL,
        labels.EVENT_TYPE_LABEL,
    ],
)
def test_labels_are_chinese_and_nonblank(table):
    for code, name in table.items():
        assert name.strip() == name and name, code
        assert any("\u4e00" <= ch <= "\u9fff" for ch in name), (code, name)


def test_an_unknown_code_comes_back_as_it_is():
    """An older copy of the package meets newer codes: it shows them, never fails."""
    assert labels.category_label("hazard.flood") == "hazard.flood"
    assert labels.status_label("archived") == "archived"
    assert labels.level_label("province") == "province"
    assert labels.level_short_label("province") == "province"
    assert labels.severity_label("catastrophic") == "catastrophic"
    assert labels.deadline_label("verify") == "verify"
    assert labels.task_type_label("snow_clearing") == "snow_clearing"
    assert labels.task_status_label("paused") == "paused"
    assert labels.area_kind_label("county") == "county"
    assert labels.event_type_label("gov.case.archived.v1") == "gov.case.archived.v1"


def test_the_public_names_are_exported():
    for name in labels.__all__:
        assert hasattr(labels, name), name
