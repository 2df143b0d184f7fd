import pytest

from govkit.settings import DEV_JWT_SECRET, ConfigError, load

BASE = {"CASES_DATABASE_URL": "postgresql://cases:pw@127.0.0.1:5432/gov", "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}
IDP = {
    "JWT_ALGORITHM": "RS256,ES256",
    "OIDC_ISSUER": "https://sso.changping.gov.cn/realms/changping",
    "JWT_AUDIENCE": "changping-gov",
}


def test_defaults_and_per_service_names():
    s = load("cases", BASE)
    assert s.db_schema == "cases" and s.http_port == 8000 and s.env == "development"
    assert s.jwt_secret == DEV_JWT_SECRET  # development only


@pytest.mark.parametrize(
    "env,expected",
    [
        ({"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"}, "CASES_DATABASE_URL"),
        ({**BASE, "CASES_DATABASE_URL": "mysql://x"}, "CASES_DATABASE_URL"),
        ({**BASE, "KAFKA_BOOTSTRAP_SERVERS": "localhost"}, "KAFKA_BOOTSTRAP_SERVERS"),
        ({**BASE, "CASES_HTTP_PORT": "eighty"}, "CASES_HTTP_PORT"),
        ({**BASE, "LOG_LEVEL": "LOUD"}, "LOG_LEVEL"),
        # production verifies an identity provider's tokens: the development HS256 secret is refused
        ({**BASE, "GOV_ENV": "production"}, "JWT_ALGORITHM"),
        ({**BASE, "GOV_ENV": "production", "JWT_SECRET": DEV_JWT_SECRET}, "JWT_ALGORITHM"),
        ({**BASE, "JWT_SECRET": "short"}, "JWT_SECRET"),
        ({**BASE, "JWT_ALGORITHM": "RS256"}, "JWT_PUBLIC_KEY_FILE"),
        ({**BASE, "GOV_ENV": "production", **IDP}, "PSEUDONYM_KEY"),
        ({**BASE, "PSEUDONYM_KEY": "short"}, "PSEUDONYM_KEY"),
    ],
)
def test_a_bad_config_is_one_line_naming_the_variable(env, expected):
    with pytest.raises(ConfigError) as e:
        load("cases", env)
    msg = str(e.value)
    assert msg.startswith(f"config error: {expected}") and "\n" not in msg


def test_missing_variable_says_what_to_set():
    with pytest.raises(ConfigError, match=r"set CASES_DATABASE_URL: postgresql:// DSN"):
        load("cases", {"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092"})


def test_production_accepts_an_identity_provider():
    s = load(
        "volunteers",
        {
            "VOLUNTEERS_DATABASE_URL": BASE["CASES_DATABASE_URL"],
            "GOV_ENV": "production",
            "KAFKA_BOOTSTRAP_SERVERS": "k1:9092,k2:9092",
            **IDP,
            "PSEUDONYM_KEY": "p" * 40,
        },
    )
    assert s.env == "production" and s.kafka_bootstrap_servers == "k1:9092,k2:9092"


def test_every_variable_is_documented():
    from pathlib import Path

    from cases.config import ENV_VARS as CASES_VARS
    from govkit.settings import ENV_VARS
    from livelihood.config import ENV_VARS as LIVELIHOOD_VARS
    from notifications.config import ENV_VARS as NOTIFICATIONS_VARS
    from reporting.config import ENV_VARS as REPORTING_VARS
    from volunteers.config import ENV_VARS as VOLUNTEERS_VARS

    doc = (Path(__file__).resolve().parents[2] / "docs" / "configuration.md").read_text(encoding="utf-8")
    for var in (*ENV_VARS, *CASES_VARS, *VOLUNTEERS_VARS, *REPORTING_VARS, *NOTIFICATIONS_VARS, *LIVELIHOOD_VARS):
        assert f"`{var.name}`" in doc, f"{var.name} missing from docs/configuration.md"
