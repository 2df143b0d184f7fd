"""Static checks of the Kubernetes manifests in deploy/k8s.

Nothing is applied to a cluster. The Kustomize base and the production overlay
are rendered by the real Kustomize (kubectl's, pinned in requirements.lock:
govctl.kustomize, `./gov k8s render`), every object is validated offline
against the official Kubernetes JSON Schemas bundled in the
`kubernetes-validate` package, and the objects are
compared with the code they run: govkit.settings.ENV_VARS and the services'
config.ENV_VARS, docs/configuration.md, deploy/Dockerfile, docker-compose.yml.

Each check is a function over the rendered objects; test_a_broken_manifest_fails
breaks a copy of the production rendering in one way per check and expects it
to fail, so a check that stopped checking is noticed.
"""

from __future__ import annotations

import copy
import importlib
import re
import socket
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from govctl import kustomize
from govctl.stack import SERVICES
from govkit import metrics, settings

ROOT = Path(__file__).resolve().parents[2]
K8S = ROOT / "deploy" / "k8s"
BASE = K8S / "base"
PRODUCTION = K8S / "overlays" / "production"
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "deploy" / "Dockerfile"
CONFIG_DOC = ROOT / "docs" / "configuration.md"

APP_SERVICES = ("cases", "volunteers", "reporting", "notifications", "livelihood")
SPECS = {name: importlib.import_module(f"{name}.app").SPEC for name in APP_SERVICES}
SERVICE_CONFIG_VARS = {name: tuple(spec.extra_env) for name, spec in SPECS.items()}  # the services' config.ENV_VARS
SECRET_VARS = ("{SERVICE}_DATABASE_URL", "JWT_SECRET", "PSEUDONYM_KEY")
# credentials a service may be given (none required): from a Secret when set, never a value or a ConfigMap
OPTIONAL_SECRET_VARS = {
    "notifications": (
        "NOTIFICATIONS_SERVICE_TOKEN",
        "NOTIFICATIONS_SMS_KEY_ID",
        "NOTIFICATIONS_SMS_KEY_SECRET",
        "NOTIFICATIONS_SMTP_USER",
        "NOTIFICATIONS_SMTP_PASSWORD",
    ),
}
# settings a service's config.ENV_VARS marks "development only" (LIVELIHOOD_CLOCK_FILE): refused under
# GOV_ENV=production, and set in no manifest, not even the base
DEVELOPMENT_ONLY_VARS = {
    v.name for vars_ in SERVICE_CONFIG_VARS.values() for v in vars_ if v.help.startswith("development only")
}
# variables holding the base URL of another service, called from inside the cluster
SERVICE_URL_VARS = {"NOTIFICATIONS_VOLUNTEERS_URL": "volunteers"}
# database connections of a pod beyond <SVC>_DB_POOL_MAX and the outbox relay's LISTEN
EXTRA_CONNECTIONS = {"notifications": 2}  # LISTEN of the channel senders and of the inbox stream
MIGRATE_CHAIN = " && ".join(f"python -m {name} migrate" for name in APP_SERVICES)
KUBERNETES_VERSIONS = ("1.30.0", "1.37.0")  # oldest and newest the manifests are checked against
KAFKA_PARTITIONS = 12  # GOV_KAFKA_PARTITIONS / KAFKA_PARTITIONS default: consumers beyond it sit idle
PG_MAX_CONNECTIONS = 100 - 3  # PostgreSQL's default max_connections less superuser_reserved_connections
CLUSTER_SCOPED = {"Namespace", "ClusterRole", "ClusterRoleBinding", "CustomResourceDefinition", "PriorityClass"}
CRD_KINDS = {
    ("monitoring.coreos.com/v1", "ServiceMonitor"),  # not in the Kubernetes schemas: checked below
    ("monitoring.coreos.com/v1", "PrometheusRule"),
}
# what each required alert watches: the metric it must use
REQUIRED_ALERTS = {
    "consumer stall": "gov_consumer_stalled_seconds",
    "consumer lag": "gov_consumer_lag",
    "dead letters": "gov_dead_letters_total",
    "outbox backlog": "gov_outbox_backlog",
    "failed notifications": "gov_notifications_total",
}


# ---- reading the manifests ------------------------------------------------------


def load_docs(path: Path) -> list[dict]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d is not None]


def _containers(doc: dict) -> list[dict]:
    spec = doc.get("spec", {})
    if doc["kind"] in ("Deployment", "StatefulSet", "DaemonSet", "Job"):
        pod = spec.get("template", {}).get("spec", {})
    elif doc["kind"] == "CronJob":
        pod = spec.get("jobTemplate", {}).get("spec", {}).get("template", {}).get("spec", {})
    elif doc["kind"] == "Pod":
        pod = spec
    else:
        return []
    return [*pod.get("initContainers", []), *pod.get("containers", [])]


def image_name(image: str) -> str:
    """`registry/name:tag@digest` -> `registry/name`."""
    image = image.split("@", 1)[0]
    head, _, tail = image.rpartition(":")
    return head if head and "/" not in tail else image


def image_tag(image: str) -> str | None:
    name = image_name(image)
    rest = image.split("@", 1)[0][len(name) :]
    return rest[1:] if rest.startswith(":") else None


@pytest.fixture(scope="module")
def base() -> list[dict]:
    return kustomize.build(BASE)


@pytest.fixture(scope="module")
def production() -> list[dict]:
    return kustomize.build(PRODUCTION)


@pytest.fixture(scope="module", params=["base", "production"])
def rendered(request) -> list[dict]:
    return kustomize.build(BASE if request.param == "base" else PRODUCTION)


# ---- helpers ---------------------------------------------------------------------


def of_kind(docs: list[dict], kind: str) -> list[dict]:
    return [d for d in docs if d["kind"] == kind]


def one(docs: list[dict], kind: str, name: str) -> dict:
    found = [d for d in docs if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"{kind}/{name}: found {len(found)}"
    return found[0]


def pod_spec(doc: dict) -> dict:
    return doc["spec"]["template"]["spec"]


def workloads(docs: list[dict]) -> list[dict]:
    return [d for d in docs if d["kind"] in ("Deployment", "Job")]


def service_of(workload: dict) -> tuple[str, ...]:
    """The services whose settings a workload's process reads."""
    if workload["kind"] == "Job":
        return APP_SERVICES  # the migration Job runs every service's `migrate` command
    return (workload["metadata"]["name"],)


def known_vars(service: str) -> set[str]:
    return {settings.env_name(v, service) for v in (*settings.ENV_VARS, *SERVICE_CONFIG_VARS[service])}


def documented_names() -> set[str]:
    return set(re.findall(r"`(\{?[A-Z][A-Z0-9_{}]*)`", CONFIG_DOC.read_text(encoding="utf-8")))


def template_of(name: str, service: str) -> str:
    prefix = f"{service.upper()}_"
    return "{SERVICE}_" + name[len(prefix) :] if name.startswith(prefix) else name


def env_sources(docs: list[dict], container: dict) -> dict[str, tuple[str, Any]]:
    """Variable name -> (source, detail): ("value", v), ("secret", (name, key)), ("configmap", (name, v))."""
    out: dict[str, tuple[str, Any]] = {}
    for src in container.get("envFrom", []):
        assert "secretRef" not in src, f"{container['name']}: envFrom secretRef; reference each secret by secretKeyRef"
        assert "configMapRef" in src, f"{container['name']}: envFrom {src}"
        cm = one(docs, "ConfigMap", src["configMapRef"]["name"])
        prefix = src.get("prefix", "")
        for k, v in (cm.get("data") or {}).items():
            out[prefix + k] = ("configmap", (cm["metadata"]["name"], v))
    for e in container.get("env", []):
        if "value" in e:
            out[e["name"]] = ("value", e["value"])
        elif "secretKeyRef" in e.get("valueFrom", {}):
            ref = e["valueFrom"]["secretKeyRef"]
            out[e["name"]] = ("secret", (ref["name"], ref["key"]))
        else:
            out[e["name"]] = ("other", e.get("valueFrom"))
    return out


def resolved_env(docs: list[dict], container: dict) -> dict[str, str]:
    """The environment the process would see, with a stand-in of the right form for each secret."""
    env = {}
    for name, (kind, detail) in env_sources(docs, container).items():
        if kind == "configmap":
            env[name] = str(detail[1])
        elif kind == "value":
            env[name] = str(detail)
        elif kind == "secret" and name.endswith("_DATABASE_URL"):
            svc = name.removesuffix("_DATABASE_URL").lower()
            env[name] = f"postgresql://{svc}:stand-in@postgres:5432/gov"
        elif kind == "secret":
            env[name] = f"stand-in-{detail[0]}-{detail[1]}-" + "x" * 32
    return env


def named_port(container: dict, port) -> int:
    if isinstance(port, int):
        return port
    found = [p["containerPort"] for p in container.get("ports", []) if p.get("name") == port]
    assert found, f"{container['name']}: no port named {port}"
    return found[0]


_QUANTITY = re.compile(r"^([0-9.]+)(m|Ki|Mi|Gi|Ti|k|M|G|T)?$")
_FACTOR = {
    None: 1,
    "m": 1e-3,
    "k": 1e3,
    "M": 1e6,
    "G": 1e9,
    "T": 1e12,
    "Ki": 2**10,
    "Mi": 2**20,
    "Gi": 2**30,
    "Ti": 2**40,
}


def quantity(q) -> float:
    m = _QUANTITY.match(str(q))
    assert m, f"not a Kubernetes quantity: {q!r}"
    return float(m.group(1)) * _FACTOR[m.group(2)]


def dockerfile_uid() -> int:
    users = re.findall(r"^USER\s+(\S+)", DOCKERFILE.read_text(), re.M)
    return int(users[-1].split(":")[0])


def compose_image() -> str:
    compose = yaml.safe_load(COMPOSE.read_text())
    return compose["services"]["cases"]["image"]


def matches(selector: dict, labels: dict) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


# ---- the checks --------------------------------------------------------------------


def check_one_deployment_per_service(docs):
    names = sorted(d["metadata"]["name"] for d in of_kind(docs, "Deployment"))
    assert names == sorted(APP_SERVICES) == sorted(SERVICES), f"Deployments {names}"
    for d in of_kind(docs, "Deployment"):
        svc = d["metadata"]["name"]
        c = pod_spec(d)["containers"]
        assert len(c) == 1, f"{svc}: one container"
        assert c[0]["command"] == ["python", "-m", svc, "serve"], f"{svc}: command {c[0].get('command')}"
        assert c[0].get("args") is None, f"{svc}: args would be appended to `serve`"
        assert "replicas" not in d["spec"], f"{svc}: replicas is the HorizontalPodAutoscaler's to set"


def check_probes(docs):
    for d in of_kind(docs, "Deployment"):
        c = pod_spec(d)["containers"][0]
        for probe, path in (("readinessProbe", "/readyz"), ("livenessProbe", "/healthz")):
            p = c.get(probe)
            assert p and "httpGet" in p, f"{d['metadata']['name']}: no HTTP {probe}"
            assert p["httpGet"]["path"] == path, f"{d['metadata']['name']}: {probe} on {p['httpGet']['path']}"
            assert named_port(c, p["httpGet"]["port"]) == 8000, f"{d['metadata']['name']}: {probe} port"


def check_resources(docs):
    for d in workloads(docs):
        for c in _containers(d):
            r = c.get("resources") or {}
            for part in ("requests", "limits"):
                for res in ("cpu", "memory"):
                    assert res in (r.get(part) or {}), f"{d['metadata']['name']}/{c['name']}: no {part}.{res}"
            for res in ("cpu", "memory"):
                assert quantity(r["requests"][res]) <= quantity(r["limits"][res]), (
                    f"{d['metadata']['name']}/{c['name']}: {res} request above limit"
                )


def check_non_root(docs):
    uid = dockerfile_uid()
    for d in workloads(docs):
        pod = pod_spec(d)
        psc = pod.get("securityContext") or {}
        for c in _containers(d):
            csc = c.get("securityContext") or {}
            where = f"{d['metadata']['name']}/{c['name']}"
            assert csc.get("runAsNonRoot", psc.get("runAsNonRoot")) is True, f"{where}: runAsNonRoot not set"
            assert csc.get("runAsUser", psc.get("runAsUser")) == uid, f"{where}: runAsUser is not {uid} (Dockerfile)"
            assert csc.get("allowPrivilegeEscalation") is False, f"{where}: allowPrivilegeEscalation"
            assert csc.get("privileged") is not True, f"{where}: privileged"


def check_env_names_are_known_and_documented(docs):
    documented = documented_names()
    for d in workloads(docs):
        services = service_of(d)
        known = set().union(*(known_vars(s) for s in services))
        for c in _containers(d):
            for name in env_sources(docs, c):
                where = f"{d['metadata']['name']}/{c['name']}"
                assert name in known, (
                    f"{where}: {name} is not a variable the code reads (settings.ENV_VARS, config.ENV_VARS)"
                )
                templates = {template_of(name, s) for s in services}
                assert documented & ({name} | templates), f"{where}: {name} is not in docs/configuration.md"


def check_settings_load(docs, env: str):
    """The environment each process gets is complete and valid for govkit.settings.load (and the
    services' own configure): a missing required variable or a bad value fails here."""
    for d in workloads(docs):
        c = [c for c in _containers(d)][-1]
        environ = resolved_env(docs, c)
        for svc in service_of(d):
            s = settings.load(svc, environ)  # raises ConfigError naming the variable
            assert s.env == env, f"{d['metadata']['name']}: GOV_ENV={s.env}, expected {env}"
            if d["kind"] == "Deployment":
                assert s.http_host == "0.0.0.0", f"{svc}: binds {s.http_host}: unreachable from the Service"
                assert s.http_port == named_port(c, "http") == 8000, f"{svc}: listens on {s.http_port}"
                if SPECS[svc].configure is not None:
                    SPECS[svc].configure(s, environ)  # the service's own settings (config.py)


def check_secrets(docs, raw_docs: list[dict]):
    for doc in raw_docs:
        assert doc.get("kind") != "Secret", (
            f"a Secret object is in the repository: {doc.get('metadata', {}).get('name')}"
        )
    for d in workloads(docs):
        for c in _containers(d):
            sources = env_sources(docs, c)
            for svc in service_of(d):
                for template in SECRET_VARS:
                    name = template.replace("{SERVICE}", svc.upper())
                    assert name in sources, f"{d['metadata']['name']}: {name} not set"
                    kind, detail = sources[name]
                    assert kind == "secret", f"{d['metadata']['name']}: {name} from {kind}, not a secretKeyRef"
        for c in _containers(d):
            sources = env_sources(docs, c)
            for svc in service_of(d):
                for name in OPTIONAL_SECRET_VARS.get(svc, ()):
                    if name in sources:
                        kind, _ = sources[name]
                        assert kind == "secret", f"{d['metadata']['name']}: {name} from {kind}, not a secretKeyRef"
    credentials = {n for names in OPTIONAL_SECRET_VARS.values() for n in names}
    for cm in of_kind(docs, "ConfigMap"):
        for key in cm.get("data") or {}:
            assert not any(key.endswith(t.removeprefix("{SERVICE}")) for t in SECRET_VARS), (
                f"ConfigMap {cm['metadata']['name']}: {key} is a secret"
            )
            assert key not in credentials, f"ConfigMap {cm['metadata']['name']}: {key} is a secret"


def check_no_development_only_settings(docs):
    for d in workloads(docs):
        for c in _containers(d):
            for name in env_sources(docs, c):
                assert name not in DEVELOPMENT_ONLY_VARS, (
                    f"{d['metadata']['name']}: {name} is for development only (the service refuses it in production)"
                )


def check_autoscaling_and_disruption(docs, min_replicas: int):
    deployments = of_kind(docs, "Deployment")
    hpas, pdbs = of_kind(docs, "HorizontalPodAutoscaler"), of_kind(docs, "PodDisruptionBudget")
    for d in deployments:
        name = d["metadata"]["name"]
        mine = [
            h
            for h in hpas
            if h["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": name}
        ]
        assert len(mine) == 1, f"{name}: {len(mine)} HorizontalPodAutoscaler(s)"
        h = mine[0]
        assert h["apiVersion"] == "autoscaling/v2", f"{name}: HPA {h['apiVersion']}"
        assert min_replicas <= h["spec"].get("minReplicas", 1) <= h["spec"]["maxReplicas"] <= KAFKA_PARTITIONS, (
            f"{name}: replicas {h['spec'].get('minReplicas', 1)}..{h['spec']['maxReplicas']}"
        )
        labels = d["spec"]["template"]["metadata"]["labels"]
        guarded = [p for p in pdbs if matches(p["spec"]["selector"]["matchLabels"], labels)]
        assert len(guarded) == 1, f"{name}: {len(guarded)} PodDisruptionBudget(s)"
        p = guarded[0]
        assert p["apiVersion"] == "policy/v1", f"{name}: PDB {p['apiVersion']}"
        if "minAvailable" in p["spec"]:
            assert int(p["spec"]["minAvailable"]) < h["spec"].get("minReplicas", 1), f"{name}: PDB blocks every drain"


def check_connection_budget(docs):
    total = 1  # the migration Job
    for d in of_kind(docs, "Deployment"):
        svc = d["metadata"]["name"]
        h = [h for h in of_kind(docs, "HorizontalPodAutoscaler") if h["spec"]["scaleTargetRef"]["name"] == svc][0]
        s = settings.load(svc, resolved_env(docs, pod_spec(d)["containers"][0]))
        # the pool, the outbox relay's LISTEN connection, and the service's own LISTEN connections
        total += h["spec"]["maxReplicas"] * (s.db_pool_max + 1 + EXTRA_CONNECTIONS.get(svc, 0))
    assert total <= PG_MAX_CONNECTIONS, f"{total} database connections at full scale > {PG_MAX_CONNECTIONS}"


def check_migration_job(docs):
    jobs = of_kind(docs, "Job")
    assert len(jobs) == 1, f"{len(jobs)} Job(s)"
    job = jobs[0]
    assert job["apiVersion"] == "batch/v1"
    assert pod_spec(job)["restartPolicy"] in ("Never", "OnFailure")
    c = pod_spec(job)["containers"]
    assert len(c) == 1
    cmd = c[0]["command"] + c[0].get("args", [])
    assert cmd[:2] == ["sh", "-c"] and cmd[2] == MIGRATE_CHAIN, f"migration Job runs {cmd}"


def check_images(docs, exact: bool):
    want = compose_image()
    for d in workloads(docs):
        for c in _containers(d):
            assert image_name(c["image"]) == image_name(want), (
                f"{d['metadata']['name']}: image {c['image']}, compose: {want}"
            )
            if exact:
                assert c["image"] == want, f"{d['metadata']['name']}: image {c['image']}, compose: {want}"
            else:
                assert image_tag(c["image"]) not in (None, "latest", image_tag(want)), (
                    f"{d['metadata']['name']}: production runs {c['image']}: pin a release tag"
                )


def check_services_and_ports(docs):
    for d in of_kind(docs, "Deployment"):
        name = d["metadata"]["name"]
        c = pod_spec(d)["containers"][0]
        labels = d["spec"]["template"]["metadata"]["labels"]
        assert matches(d["spec"]["selector"]["matchLabels"], labels), f"{name}: selector does not match its pods"
        svcs = [s for s in of_kind(docs, "Service") if matches(s["spec"]["selector"], labels)]
        assert [s["metadata"]["name"] for s in svcs] == [name], (
            f"{name}: Services {[s['metadata']['name'] for s in svcs]}"
        )
        ports = svcs[0]["spec"]["ports"]
        assert len(ports) == 1 and ports[0]["port"] == 8000 and ports[0].get("name") == "http", f"{name}: {ports}"
        assert named_port(c, ports[0].get("targetPort", ports[0]["port"])) == 8000, f"{name}: targetPort"


def check_service_urls(docs):
    """A URL of another service points at its Service, on the Service's port."""
    for d in of_kind(docs, "Deployment"):
        env = resolved_env(docs, pod_spec(d)["containers"][0])
        for var, target in SERVICE_URL_VARS.items():
            if not var.startswith(d["metadata"]["name"].upper() + "_"):
                continue
            assert var in env, f"{d['metadata']['name']}: {var} not set"
            ports = [p["port"] for p in one(docs, "Service", target)["spec"]["ports"]]
            assert env[var].rstrip("/") in {f"http://{target}:{p}" for p in ports}, (
                f"{d['metadata']['name']}: {var}={env[var]}, the {target} Service is http://{target}:{ports[0]}"
            )


def check_service_monitor(docs):
    monitors = of_kind(docs, "ServiceMonitor")
    assert len(monitors) == 1, f"{len(monitors)} ServiceMonitor(s)"
    m = monitors[0]
    assert m["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(m["spec"]) <= {"selector", "endpoints", "namespaceSelector", "jobLabel", "targetLabels"}, m["spec"]
    scraped = [
        s["metadata"]["name"]
        for s in of_kind(docs, "Service")
        if matches(m["spec"]["selector"]["matchLabels"], s["metadata"].get("labels", {}))
    ]
    assert sorted(scraped) == sorted(APP_SERVICES), f"ServiceMonitor selects {scraped}"
    assert len(m["spec"]["endpoints"]) == 1
    ep = m["spec"]["endpoints"][0]
    assert ep.get("path") == "/metrics", f"scrapes {ep.get('path')}"
    for s in of_kind(docs, "Service"):
        if s["metadata"]["name"] in scraped:
            assert ep["port"] in [p.get("name") for p in s["spec"]["ports"]], (
                f"{s['metadata']['name']}: no port {ep['port']}"
            )


def exported_metrics() -> set[str]:
    """The series names govkit.metrics and the services' modules export (a Counter `x` is scraped as `x_total`)."""
    import sys

    from prometheus_client.metrics import MetricWrapperBase

    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    names: set[str] = set()
    modules = [metrics] + [m for n, m in list(sys.modules.items()) if n.split(".")[0] in APP_SERVICES]
    for obj in (o for m in modules for o in list(vars(m).values())):
        if isinstance(obj, MetricWrapperBase):
            for family in obj.describe():
                names.update(family.name + s for s in suffixes[family.type])
    return names


_DURATION = re.compile(r"^([0-9]+(ms|s|m|h|d|w|y))+$")


def _balanced(expr: str) -> bool:
    depth = 0
    for ch in expr:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        if depth < 0:
            return False
    return depth == 0


def check_prometheus_rule(docs):
    rules = of_kind(docs, "PrometheusRule")
    assert len(rules) == 1, f"{len(rules)} PrometheusRule(s)"
    r = rules[0]
    assert r["apiVersion"] == "monitoring.coreos.com/v1"
    assert set(r["spec"]) == {"groups"} and r["spec"]["groups"], r["spec"]
    known = exported_metrics()
    alerts = {}
    for group in r["spec"]["groups"]:
        assert set(group) <= {"name", "rules", "interval"} and group["rules"], group.get("name")
        for rule in group["rules"]:
            name = rule.get("alert")
            assert name and set(rule) <= {"alert", "expr", "for", "labels", "annotations"}, rule
            assert name not in alerts, f"alert {name} twice"
            expr = rule["expr"]
            assert _balanced(expr), f"{name}: unbalanced parentheses"
            used = set(re.findall(r"\b(gov_[a-z0-9_]+)\b", expr))
            assert used and used <= known, f"{name}: metrics the services do not export: {sorted(used - known)}"
            assert "for" not in rule or _DURATION.match(rule["for"]), f"{name}: for {rule['for']!r}"
            assert rule.get("labels", {}).get("severity") in ("warning", "critical"), f"{name}: severity"
            assert {"summary", "description"} <= set(rule.get("annotations", {})), f"{name}: annotations"
            alerts[name] = (used, expr)
    for what, metric in REQUIRED_ALERTS.items():
        assert any(metric in used for used, _ in alerts.values()), f"no alert on {what} ({metric})"
    # the stall alert fires at the threshold /healthz/consumer uses by default
    stall_after = next(v.default for v in settings.ENV_VARS if v.name == "CONSUMER_STALL_AFTER_S")
    stall = [expr for used, expr in alerts.values() if REQUIRED_ALERTS["consumer stall"] in used]
    assert any(re.search(rf">=?\s*{re.escape(str(stall_after))}\b", e) for e in stall), (
        f"stall alert threshold differs from CONSUMER_STALL_AFTER_S={stall_after}: {stall}"
    )


def check_production(docs):
    ns = [d for d in docs if d["kind"] == "Namespace"]
    assert len(ns) == 1
    for d in docs:
        if d["kind"] not in CLUSTER_SCOPED:
            assert d["metadata"].get("namespace") == ns[0]["metadata"]["name"], f"{d['kind']}/{d['metadata']['name']}"
    assert one(docs, "ConfigMap", "gov-config")["data"]["GOV_ENV"] == "production"


# ---- tests -----------------------------------------------------------------------------


def all_yaml_files() -> list[Path]:
    return sorted(K8S.rglob("*.yaml")) + sorted(K8S.rglob("*.yml"))


def test_every_manifest_parses():
    files = all_yaml_files()
    assert files, "deploy/k8s has no YAML"
    for f in files:
        for doc in load_docs(f):
            assert isinstance(doc, dict) and doc.get("apiVersion") and doc.get("kind"), f"{f}: not an object"
            if doc["kind"] != "Kustomization":
                assert doc.get("metadata", {}).get("name"), f"{f}: {doc['kind']} without a name"


@pytest.fixture
def no_network(monkeypatch):
    """Validation must work offline: any connection attempt fails the test."""

    def refuse(*a, **kw):
        raise AssertionError(f"network access during validation: {a}")

    monkeypatch.setattr(socket.socket, "connect", refuse)
    monkeypatch.setattr(socket, "create_connection", refuse)
    monkeypatch.setattr(socket, "getaddrinfo", refuse)


def test_objects_match_the_official_kubernetes_schemas_offline(rendered, no_network):
    import kubernetes_validate

    validated = 0
    for doc in rendered:
        if (doc["apiVersion"], doc["kind"]) in CRD_KINDS:
            continue  # check_service_monitor
        for version in KUBERNETES_VERSIONS:
            try:
                kubernetes_validate.validate(doc, version, strict=True)
            except kubernetes_validate.ValidationError as e:
                path = ".".join(str(p) for p in e.path)
                pytest.fail(f"{doc['kind']}/{doc['metadata']['name']} (Kubernetes {version}): {path}: {e.message}")
        validated += 1
    assert validated >= len(APP_SERVICES) * 4 + 1, f"only {validated} objects validated"


def test_schema_validation_catches_a_misspelt_field(production, no_network):
    import kubernetes_validate

    doc = copy.deepcopy(one(production, "Deployment", "cases"))
    pod_spec(doc)["containers"][0]["readinessProbe"]["httpGet"]["pth"] = "/readyz"
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(doc, KUBERNETES_VERSIONS[-1], strict=True)


def test_image_names_and_tags():
    assert image_name("reg.example:5000/ns/changping-gov:1.2@sha256:ab") == "reg.example:5000/ns/changping-gov"
    assert image_tag("reg.example:5000/changping-gov:1.2") == "1.2" and image_tag("changping-gov") is None


def test_one_deployment_per_service(rendered):
    check_one_deployment_per_service(rendered)


def test_probes_on_readyz_and_healthz(rendered):
    check_probes(rendered)


def test_requests_and_limits(rendered):
    check_resources(rendered)


def test_runs_as_the_images_non_root_user(rendered):
    check_non_root(rendered)


def test_environment_names_are_the_codes_and_documented(rendered):
    check_env_names_are_known_and_documented(rendered)


def test_base_environment_loads(base):
    check_settings_load(base, "development")


def test_production_environment_loads_in_production_mode(production):
    check_settings_load(production, "production")


def test_secrets_only_by_reference(rendered):
    raw = [d for f in all_yaml_files() for d in load_docs(f)]
    check_secrets(rendered, raw)


def test_no_development_only_settings(rendered):
    assert "LIVELIHOOD_CLOCK_FILE" in DEVELOPMENT_ONLY_VARS
    check_no_development_only_settings(rendered)


def test_autoscaler_and_disruption_budget_per_deployment(base, production):
    check_autoscaling_and_disruption(base, 1)
    check_autoscaling_and_disruption(production, 2)


def test_database_connections_fit_at_full_scale(production):
    check_connection_budget(production)


def test_migration_job(rendered):
    check_migration_job(rendered)


def test_images_agree_with_compose(base, production):
    check_images(base, exact=True)
    check_images(production, exact=False)


def test_services_and_ports(rendered):
    check_services_and_ports(rendered)


def test_service_urls_point_at_the_services(rendered):
    check_service_urls(rendered)


def test_service_monitor_scrapes_metrics(rendered):
    check_service_monitor(rendered)


def test_prometheus_rule_alerts_on_what_the_services_export(rendered):
    check_prometheus_rule(rendered)


def test_grafana_dashboard_ships_as_a_configmap(rendered):
    """The base's configMapGenerator puts grafana-dashboard.json, unchanged, into a ConfigMap that Grafana's
    dashboard sidecar picks up (label grafana_dashboard); its queries are checked in tests/unit/test_dashboard.py."""
    import json

    [cm] = [d for d in of_kind(rendered, "ConfigMap") if "grafana_dashboard" in d["metadata"].get("labels", {})]
    assert cm["metadata"]["name"] == "changping-gov-grafana-dashboard"
    assert cm["metadata"]["labels"]["grafana_dashboard"] == "1"
    assert cm["metadata"]["labels"]["app.kubernetes.io/part-of"] == "changping-gov"
    shipped = json.loads(cm["data"]["changping-gov.json"])
    assert shipped == json.loads((K8S / "base" / "grafana-dashboard.json").read_text(encoding="utf-8"))
    assert shipped["uid"] == "changping-gov"


def test_production_namespace_and_mode(production):
    check_production(production)


# ---- every check fails on a manifest broken in its way ---------------------------------------


def _dep(docs, name="cases"):
    return one(docs, "Deployment", name)


def _container(docs, name="cases"):
    return pod_spec(_dep(docs, name))["containers"][0]


def _env(docs, var, name="cases"):
    return next(e for e in _container(docs, name)["env"] if e["name"] == var)


def _drop_deployment(docs):
    docs.remove(_dep(docs, "reporting"))


def _readiness_on_healthz(docs):
    _container(docs)["readinessProbe"]["httpGet"]["path"] = "/healthz"


def _no_liveness(docs):
    del _container(docs, "volunteers")["livenessProbe"]


def _no_memory_limit(docs):
    del _container(docs)["resources"]["limits"]["memory"]


def _root(docs):
    pod_spec(_dep(docs))["securityContext"].pop("runAsNonRoot")
    _container(docs)["securityContext"].pop("runAsNonRoot")


def _unknown_variable(docs):
    _container(docs)["env"].append({"name": "CASES_HTTP_WORKERS", "value": "4"})


def _undocumented_variable(docs):
    # known to the code, but (for this test) missing from the reference
    _container(docs, "volunteers")["env"].append({"name": "VOLUNTEERS_SCHEDULE_HORIZON_DAYS", "value": "7"})


def _inline_secret(docs):
    e = _env(docs, "JWT_SECRET")
    e.pop("valueFrom")
    e["value"] = "an-inline-secret-that-is-long-enough-000000"


def _secret_in_configmap(docs):
    one(docs, "ConfigMap", "gov-config")["data"]["PSEUDONYM_KEY"] = "p" * 40


def _missing_database_url(docs):
    c = _container(docs, "reporting")
    c["env"] = [e for e in c["env"] if e["name"] != "REPORTING_DATABASE_URL"]


def _bad_port(docs):
    one(docs, "ConfigMap", "gov-volunteers-config")["data"]["VOLUNTEERS_HTTP_PORT"] = "8080"


def _loopback(docs):
    one(docs, "ConfigMap", "gov-cases-config")["data"]["CASES_HTTP_HOST"] = "127.0.0.1"


def _development(docs):
    one(docs, "ConfigMap", "gov-config")["data"]["GOV_ENV"] = "development"


def _drop_hpa(docs):
    docs.remove(one(docs, "HorizontalPodAutoscaler", "volunteers"))


def _drop_pdb(docs):
    docs.remove(one(docs, "PodDisruptionBudget", "cases"))


def _single_replica(docs):
    one(docs, "HorizontalPodAutoscaler", "reporting")["spec"]["minReplicas"] = 1


def _too_many_connections(docs):
    one(docs, "HorizontalPodAutoscaler", "cases")["spec"]["maxReplicas"] = 12


def _drop_job(docs):
    docs.remove(of_kind(docs, "Job")[0])


def _partial_migration(docs):
    pod_spec(of_kind(docs, "Job")[0])["containers"][0]["command"][2] = "python -m cases migrate"


def _other_image(docs):
    _container(docs)["image"] = "changping-governance:1.0.0"


def _service_port(docs):
    one(docs, "Service", "volunteers")["spec"]["ports"][0]["port"] = 80


def _container_port(docs):
    _container(docs, "reporting")["ports"][0]["containerPort"] = 8080


def _monitor_path(docs):
    of_kind(docs, "ServiceMonitor")[0]["spec"]["endpoints"][0]["path"] = "/prometheus"


def _monitor_selects_nothing(docs):
    of_kind(docs, "ServiceMonitor")[0]["spec"]["selector"]["matchLabels"]["app.kubernetes.io/part-of"] = "other"


def _rule(docs, alert):
    rule = of_kind(docs, "PrometheusRule")[0]
    return next(r for g in rule["spec"]["groups"] for r in g["rules"] if r["alert"] == alert)


def _misspelt_metric(docs):
    _rule(docs, "GovConsumerLagHigh")["expr"] = "sum by (service, topic) (gov_consumer_lags) > 1000"


def _stall_threshold(docs):
    _rule(docs, "GovConsumerStalled")["expr"] = "max by (service) (gov_consumer_stalled_seconds) >= 600"


def _no_dead_letter_alert(docs):
    for g in of_kind(docs, "PrometheusRule")[0]["spec"]["groups"]:
        g["rules"] = [r for r in g["rules"] if r["alert"] != "GovDeadLetters"]


def _no_severity(docs):
    del _rule(docs, "GovOutboxBacklog")["labels"]["severity"]


def _inline_smtp_password(docs):
    e = _env(docs, "NOTIFICATIONS_SMTP_PASSWORD", "notifications")
    e.pop("valueFrom")
    e["value"] = "smtp-password"


def _sms_key_in_configmap(docs):
    c = _container(docs, "notifications")
    c["env"] = [e for e in c["env"] if e["name"] != "NOTIFICATIONS_SMS_KEY_SECRET"]
    one(docs, "ConfigMap", "gov-notifications-config")["data"]["NOTIFICATIONS_SMS_KEY_SECRET"] = "k" * 32


def _volunteers_url_elsewhere(docs):
    one(docs, "ConfigMap", "gov-notifications-config")["data"]["NOTIFICATIONS_VOLUNTEERS_URL"] = "http://volunteer:8000"


def _no_volunteers_url(docs):
    del one(docs, "ConfigMap", "gov-notifications-config")["data"]["NOTIFICATIONS_VOLUNTEERS_URL"]


def _no_notification_failure_alert(docs):
    for g in of_kind(docs, "PrometheusRule")[0]["spec"]["groups"]:
        g["rules"] = [r for r in g["rules"] if "gov_notifications_total" not in r["expr"]]
    of_kind(docs, "PrometheusRule")[0]["spec"]["groups"] = [
        g for g in of_kind(docs, "PrometheusRule")[0]["spec"]["groups"] if g["rules"]
    ]


def _more_notification_pods(docs):
    one(docs, "HorizontalPodAutoscaler", "notifications")["spec"]["maxReplicas"] = 4


def _bigger_livelihood_pool(docs):
    one(docs, "ConfigMap", "gov-livelihood-config")["data"]["LIVELIHOOD_DB_POOL_MAX"] = "10"


def _livelihood_clock(docs):
    one(docs, "ConfigMap", "gov-livelihood-config")["data"]["LIVELIHOOD_CLOCK_FILE"] = "/tmp/clock"


def _secret_object(raw):
    raw.append(
        {"apiVersion": "v1", "kind": "Secret", "metadata": {"name": "gov-auth"}, "data": {"jwt-secret": "c2VjcmV0"}}
    )


BROKEN: list[tuple[str, Callable, Callable]] = [
    ("a service without a Deployment", _drop_deployment, check_one_deployment_per_service),
    ("readiness not on /readyz", _readiness_on_healthz, check_probes),
    ("no liveness probe", _no_liveness, check_probes),
    ("no memory limit", _no_memory_limit, check_resources),
    ("may run as root", _root, check_non_root),
    ("a variable the code does not read", _unknown_variable, check_env_names_are_known_and_documented),
    ("a secret inline", _inline_secret, lambda d: check_secrets(d, [])),
    ("a secret in a ConfigMap", _secret_in_configmap, lambda d: check_secrets(d, [])),
    ("an SMTP password inline", _inline_smtp_password, lambda d: check_secrets(d, [])),
    ("an SMS key in a ConfigMap", _sms_key_in_configmap, lambda d: check_secrets(d, [])),
    ("volunteers at a wrong URL", _volunteers_url_elsewhere, check_service_urls),
    ("no volunteers URL", _no_volunteers_url, check_service_urls),
    ("a DSN missing", _missing_database_url, lambda d: check_settings_load(d, "production")),
    ("the wrong port", _bad_port, lambda d: check_settings_load(d, "production")),
    ("bound to loopback", _loopback, lambda d: check_settings_load(d, "production")),
    ("development mode", _development, lambda d: check_settings_load(d, "production")),
    ("no autoscaler", _drop_hpa, lambda d: check_autoscaling_and_disruption(d, 2)),
    ("no disruption budget", _drop_pdb, lambda d: check_autoscaling_and_disruption(d, 2)),
    ("one replica in production", _single_replica, lambda d: check_autoscaling_and_disruption(d, 2)),
    ("more connections than PostgreSQL has", _too_many_connections, check_connection_budget),
    ("notifications' extra connections", _more_notification_pods, check_connection_budget),
    ("livelihood's pool at the default size", _bigger_livelihood_pool, check_connection_budget),
    ("a development clock", _livelihood_clock, check_no_development_only_settings),
    ("a development clock in production", _livelihood_clock, lambda d: check_settings_load(d, "production")),
    ("no migration Job", _drop_job, check_migration_job),
    ("a partial migration", _partial_migration, check_migration_job),
    ("another image", _other_image, lambda d: check_images(d, exact=False)),
    ("Service on another port", _service_port, check_services_and_ports),
    ("container on another port", _container_port, check_services_and_ports),
    ("metrics scraped elsewhere", _monitor_path, check_service_monitor),
    ("metrics of no service", _monitor_selects_nothing, check_service_monitor),
    ("development mode namespace check", _development, check_production),
    ("an alert on a metric nobody exports", _misspelt_metric, check_prometheus_rule),
    ("a stall alert at another threshold", _stall_threshold, check_prometheus_rule),
    ("no alert on dead letters", _no_dead_letter_alert, check_prometheus_rule),
    ("no alert on failed notifications", _no_notification_failure_alert, check_prometheus_rule),
    ("an alert without severity", _no_severity, check_prometheus_rule),
]


@pytest.mark.parametrize("what,breaks,check", BROKEN, ids=[b[0] for b in BROKEN])
def test_a_broken_manifest_fails(production, what, breaks, check):
    docs = copy.deepcopy(production)
    check(docs)  # holds before
    breaks(docs)
    with pytest.raises((AssertionError, settings.ConfigError)):
        check(docs)


def test_an_undocumented_variable_fails(production, monkeypatch):
    docs = copy.deepcopy(production)
    _undocumented_variable(docs)
    doc = documented_names() - {"VOLUNTEERS_SCHEDULE_HORIZON_DAYS", "{SERVICE}_SCHEDULE_HORIZON_DAYS"}
    monkeypatch.setattr(f"{__name__}.documented_names", lambda: doc)
    with pytest.raises(AssertionError, match="docs/configuration.md"):
        check_env_names_are_known_and_documented(docs)


def test_a_secret_object_in_the_repository_fails(production):
    raw: list[dict] = []
    _secret_object(raw)
    with pytest.raises(AssertionError, match="Secret object"):
        check_secrets(production, raw)
