"""The local stack opens Open311 creation with a key of its own, kept across restarts; a key set in the
environment wins."""

from govctl.stack import Stack


def stack(home) -> Stack:
    st = Stack(home)
    st.state["postgres"]["port"] = 5432
    st.state["kafka"]["port"] = 9092
    st.state["services"]["cases"] = {"port": 8000}
    st.state["services"]["volunteers"] = {"port": 8001}
    return st


def test_cases_gets_the_stacks_own_key_kept_in_its_state(tmp_path, monkeypatch):
    monkeypatch.delenv("CASES_OPEN311_API_KEYS", raising=False)
    st = stack(tmp_path)
    key = st.service_env("cases")["CASES_OPEN311_API_KEYS"]
    assert key.startswith("dev-") and len(key) == 20
    assert "CASES_OPEN311_API_KEYS" not in st.service_env("volunteers")
    st.save()
    assert stack(tmp_path).service_env("cases")["CASES_OPEN311_API_KEYS"] == key  # the same after a restart


def test_a_key_set_in_the_environment_wins(tmp_path, monkeypatch):
    monkeypatch.setenv("CASES_OPEN311_API_KEYS", "town-app-1,town-app-2")
    assert stack(tmp_path).service_env("cases")["CASES_OPEN311_API_KEYS"] == "town-app-1,town-app-2"
