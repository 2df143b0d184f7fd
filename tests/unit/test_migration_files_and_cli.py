import os
import subprocess
import sys
from pathlib import Path

import pytest

from govkit import migrate

ROOT = Path(__file__).resolve().parents[2]


def test_platform_and_service_streams_load():
    ms = migrate.service_migrations(ROOT / "services" / "cases" / "migrations")
    assert ms[0].stream == "platform" and ms[0].version == 1
    assert all(m.sql.lstrip().startswith("--") for m in ms), "first line says why"


@pytest.mark.parametrize(
    "names,error",
    [
        (["V001__a.sql", "V003__c.sql"], "without gaps"),
        (["001_a.sql"], "named V001__what_it_does.sql"),
        (["V001__a.sql", "V0001__b.sql"], "appears twice"),
    ],
)
def test_bad_migration_folders_are_refused(tmp_path, names, error):
    for n in names:
        (tmp_path / n).write_text("select 1;")
    with pytest.raises(migrate.MigrationError, match=error):
        migrate.load_dir("service", tmp_path)


def test_missing_java_is_one_line_with_the_fix(tmp_path):
    env = {**os.environ, "PATH": str(Path(sys.executable).parent), "GOV_HOME": str(tmp_path)}
    r = subprocess.run([sys.executable, "-m", "govctl", "up"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 1
    assert r.stderr.strip().splitlines() == [
        "gov: java not found: install a Java 17+ runtime (e.g. apt-get install openjdk-17-jre-headless)"
    ]


def test_service_with_bad_config_stops_with_one_line():
    env = {k: v for k, v in os.environ.items() if not k.endswith("_DATABASE_URL")}
    env["KAFKA_BOOTSTRAP_SERVERS"] = "127.0.0.1:9092"
    r = subprocess.run([sys.executable, "-m", "cases", "serve"], capture_output=True, text=True, env=env, cwd=ROOT)
    assert r.returncode == 2
    assert r.stderr.strip().splitlines() == [
        "config error: CASES_DATABASE_URL: Field required (set CASES_DATABASE_URL: postgres"
        "ql:// DSN of the service's own login role)"
    ]
