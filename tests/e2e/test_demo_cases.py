"""The demo data of `./gov up` (govctl.demo.load_cases) against the test stack's cases service: every case of
demo.CASES is there in the state its steps lead to, with one case of each operation (extended once, an extension
refused, suspended, suspended and resumed, returned and dispatched again, supervised by the town, a 12345 ticket
closed and called back), and loading it again adds nothing."""

from __future__ import annotations

import httpx
import pytest

from govctl import areas as area_file
from govctl import demo
from govkit.auth import mint

from .test_services_and_areas import wait_caught_up


@pytest.fixture(scope="module")
def services(stack):
    stack.stop_services()
    stack.start_services(say=lambda *_: None)
    area_file.publish(stack.bootstrap, area_file.DEFAULT_FILE)
    stack.wait_areas("cases", 137, timeout=240)
    wait_caught_up(stack)
    yield stack
    stack.stop_services()


DEMO_REPORTERS = {"demo-grid-manager", "demo-hotline-12345"}


def _made_by_the_demo(c: httpx.Client, case: dict) -> bool:
    """Whether the demo's accounts reported the case: other tests reuse some of its titles (the loop test's land
    dispute is the demo's d01)."""
    timeline = c.get(f"/v1/cases/{case['id']}/timeline").json()
    return any(e["what"] == "report" and e["actor"] in DEMO_REPORTERS for e in timeline)


def demo_cases(stack) -> dict[str, dict]:
    """The demo's cases by key, found by their titles and reporter among the town's cases (other tests leave theirs)."""
    token = mint(key=stack.state["jwt_secret"], sub="demo-test-analyst", roles=["town_admin"], areas=["changping"])
    c = httpx.Client(base_url=stack.url("cases"), headers={"authorization": f"Bearer {token}"}, timeout=20)
    keys = {title: key for key, _grid, _cat, _sev, title, _desc, _steps in demo.CASES}
    found: dict[str, list[dict]] = {}
    cursor = None
    while True:
        r = c.get("/v1/cases", params={"area": "changping", "limit": 100, **({"cursor": cursor} if cursor else {})})
        assert r.status_code == 200, r.text
        for case in r.json()["items"]:
            if case["title"] in keys and _made_by_the_demo(c, case):
                found.setdefault(keys[case["title"]], []).append(case)
        cursor = r.json()["next_cursor"]
        if not cursor:
            break
    assert {k: len(v) for k, v in found.items()} == {key: 1 for key in keys.values()}, "each demo case once"
    return {
        k: v[0] | {"timeline": [e["what"] for e in c.get(f"/v1/cases/{v[0]['id']}/timeline").json()]}
        for k, v in found.items()
    }


def test_the_demo_has_a_case_of_each_kind_and_loading_it_again_adds_nothing(services):
    stack = services
    url, key = stack.url("cases"), stack.state["jwt_secret"]
    assert demo.load_cases(url, key) == len(demo.CASES)
    cases = demo_cases(stack)
    assert len(cases) == len(demo.CASES) >= 17

    def one(what, pred):
        hits = [k for k, c in cases.items() if pred(c)]
        assert hits, f"no demo case {what}: {[(k, c['status'], c['timeline']) for k, c in cases.items()]}"
        return cases[hits[0]]

    extended = one("extended once", lambda c: c["extensions"] == 1 and "approve_extension" in c["timeline"])
    assert extended["pending_request"] is None and extended["status"] == "in_progress"
    refused = one("with an extension refused", lambda c: "refuse_extension" in c["timeline"])
    assert refused["extensions"] == 0 and refused["pending_request"] is None
    suspended = one("suspended (缓办中)", lambda c: c["status"] == "suspended")
    assert suspended["suspension"] is not None and suspended["suspension"]["resumes_to"] == "in_progress"
    resumed = one("suspended and resumed", lambda c: "resume" in c["timeline"])
    assert resumed["status"] == "in_progress" and resumed["suspension"] is None
    returned = one("returned and dispatched again", lambda c: c["returns"] == 1)
    after_return = returned["timeline"][returned["timeline"].index("return") :]
    assert "dispatch" in after_return and returned["assigned_unit"] == "dept.water"
    supervised = one("under supervision", lambda c: c["supervision"] is not None)
    assert supervised["supervision"]["level"] == "town" and supervised["level"] == "village"
    ticket = one("a 12345 ticket called back", lambda c: c["ticket"] is not None)
    assert ticket["ticket"]["callback_result"] == "satisfied" and ticket["status"] == "closed"
    assert ticket["source"] == "hotline" and ticket["ticket"]["source"] == "12345"
    # the cases that were there before these operations still reach their states
    assert {cases[k]["status"] for k in ("d02", "d05", "d09")} == {"closed"}
    assert (cases["d08"]["level"], cases["d08"]["status"]) == ("town", "in_progress")

    # `./gov up` again: nothing new, nothing moved
    assert demo.load_cases(url, key) == 0
    again = demo_cases(stack)
    assert {k: (c["status"], c["updated_at"]) for k, c in again.items()} == {
        k: (c["status"], c["updated_at"]) for k, c in cases.items()
    }
