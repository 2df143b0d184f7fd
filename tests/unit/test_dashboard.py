"""Static checks of the Grafana dashboard (deploy/k8s/base/grafana-dashboard.json) and of the
alert rules (deploy/k8s/base/prometheusrule.yaml): every PromQL expression names only metrics
the services export (govkit.metrics and the services' own, read from the prometheus_client
objects), filters and groups only by labels those metrics have (or the ones Prometheus adds to
a scraped target), and the dashboard covers what an operator watches: HTTP rate, latency and
errors per service, consumer lag per group, outbox backlog, relay throughput, dead letters,
notification deliveries and failures.

Nothing runs Grafana or Prometheus; the expressions are parsed here (a small PromQL scanner
for what the files use).
"""

from __future__ import annotations

import importlib
import json
import pkgutil
import re
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DASHBOARD = ROOT / "deploy" / "k8s" / "base" / "grafana-dashboard.json"
RULES = ROOT / "deploy" / "k8s" / "base" / "prometheusrule.yaml"
KUSTOMIZATION = ROOT / "deploy" / "k8s" / "base" / "kustomization.yaml"
APP_SERVICES = ("cases", "volunteers", "reporting", "notifications", "livelihood")

# labels Prometheus puts on every series of a target (kubernetes service discovery, ServiceMonitor)
TARGET_LABELS = {"namespace", "pod", "instance", "job", "container", "endpoint", "service"}
FUNCTIONS = {
    "sum",
    "max",
    "min",
    "avg",
    "count",
    "topk",
    "bottomk",
    "rate",
    "irate",
    "increase",
    "delta",
    "histogram_quantile",
    "min_over_time",
    "max_over_time",
    "avg_over_time",
    "label_values",
    "clamp_min",
    "clamp_max",
    "abs",
    "vector",
    "scalar",
    "absent",
}
KEYWORDS = {"by", "without", "and", "or", "unless", "on", "ignoring", "group_left", "group_right", "bool", "offset"}
GRAFANA_VARS = {"$__rate_interval": "5m", "$__range": "1h", "$__interval": "1m"}


def exported_metrics() -> dict[str, set[str]]:
    """Series name -> label names, of every prometheus_client metric in govkit.metrics and the services' modules
    (a Counter `x` is scraped as `x_total`; a Histogram as `x_bucket` with `le`, `x_sum`, `x_count`)."""
    from prometheus_client.metrics import MetricWrapperBase

    modules = [importlib.import_module("govkit.metrics")]
    for svc in APP_SERVICES:
        pkg = importlib.import_module(svc)
        for info in pkgutil.walk_packages(pkg.__path__, f"{svc}."):
            if info.name.endswith("__main__"):
                continue
            modules.append(importlib.import_module(info.name))
    suffixes = {"counter": ("_total",), "gauge": ("",), "histogram": ("_bucket", "_sum", "_count")}
    out: dict[str, set[str]] = {}
    for obj in (o for m in modules for o in list(vars(m).values())):
        if isinstance(obj, MetricWrapperBase):
            labels = set(obj._labelnames)
            for family in obj.describe():
                for s in suffixes[family.type]:
                    out[family.name + s] = labels | ({"le"} if s == "_bucket" else set())
    return out


@pytest.fixture(scope="module")
def metrics() -> dict[str, set[str]]:
    known = exported_metrics()
    assert "gov_http_requests_total" in known and "gov_notifications_total" in known, sorted(known)
    return known


_SELECTOR = re.compile(r"([a-zA-Z_:][a-zA-Z0-9_:]*)?\s*\{([^}]*)\}")
_MATCHER = re.compile(r'\s*([a-zA-Z_][a-zA-Z0-9_]*)\s*(=~|!~|!=|=)\s*"((?:[^"\\]|\\.)*)"\s*(,|$)')
_GROUPING = re.compile(r"\b(by|without|on|ignoring)\s*\(([^)]*)\)")
_IDENT = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*")


def check_promql(expr: str, metrics: dict[str, set[str]], what: str) -> tuple[set[str], set[str]]:
    """Asserts that `expr` uses only exported metrics and their labels; returns (metrics used, grouping labels)."""
    assert expr.strip(), f"{what}: empty expression"
    text = expr
    for var, value in GRAFANA_VARS.items():
        text = text.replace(var, value)
    depth = 0
    for ch in text:
        depth += {"(": 1, ")": -1}.get(ch, 0)
        assert depth >= 0, f"{what}: unbalanced parentheses: {expr}"
    assert depth == 0, f"{what}: unbalanced parentheses: {expr}"
    used: set[str] = set()
    # selectors with matchers: the metric and the labels it is filtered by
    for m in _SELECTOR.finditer(text):
        name, body = m.group(1), m.group(2)
        assert name, f"{what}: a selector without a metric name: {m.group(0)}"
        assert name in metrics, f"{what}: {name} is not a metric the services export"
        pos = 0
        while pos < len(body.strip()):
            mm = _MATCHER.match(body, pos)
            assert mm, f"{what}: cannot read the matchers {{{body}}}"
            assert mm.group(1) in metrics[name] | TARGET_LABELS, f"{what}: {name} has no label {mm.group(1)}"
            pos = mm.end()
        used.add(name)
    # everything else: label lists of by/without/on, ranges, strings, numbers, functions
    grouping = {label.strip() for m in _GROUPING.finditer(text) for label in m.group(2).split(",") if label.strip()}
    rest = _GROUPING.sub(" ", _SELECTOR.sub(lambda m: f" {m.group(1)} ", text))
    rest = re.sub(r"\[[^\]]*\]", " ", rest)
    rest = re.sub(r'"[^"]*"', " ", rest)
    rest = re.sub(r"\b\d+(\.\d+)?([eE][+-]?\d+)?\b", " ", rest)
    for token in _IDENT.findall(rest):
        if token in FUNCTIONS or token in KEYWORDS:
            continue
        assert token in metrics, f"{what}: {token!r} is neither a metric the services export nor a PromQL function"
        used.add(token)
    assert used, f"{what}: names no metric: {expr}"
    available = set().union(*(metrics[n] for n in used)) | TARGET_LABELS
    assert grouping <= available, f"{what}: groups by labels the metrics lack: {sorted(grouping - available)}"
    return used, grouping


# ---- the dashboard ---------------------------------------------------------------------------


@pytest.fixture(scope="module")
def dashboard() -> dict:
    return json.loads(DASHBOARD.read_text(encoding="utf-8"))


def panels(dashboard: dict) -> list[dict]:
    out = []
    for p in dashboard["panels"]:
        out.append(p)
        out.extend(p.get("panels", []))  # a collapsed row holds its panels
    return out


def test_dashboard_is_a_grafana_dashboard(dashboard):
    assert dashboard["uid"] == "changping-gov" and dashboard["title"]
    assert isinstance(dashboard["schemaVersion"], int) and dashboard["schemaVersion"] >= 36
    assert "id" not in dashboard or dashboard["id"] is None, "an exported id pins the dashboard to one Grafana"
    ids = [p["id"] for p in panels(dashboard)]
    assert len(ids) == len(set(ids)), "panel ids repeat"
    cells: set[tuple[int, int]] = set()
    for p in panels(dashboard):
        g = p["gridPos"]
        assert g["w"] > 0 and g["h"] > 0 and g["x"] >= 0 and g["x"] + g["w"] <= 24, f"{p['title']}: gridPos {g}"
        mine = {(x, y) for x in range(g["x"], g["x"] + g["w"]) for y in range(g["y"], g["y"] + g["h"])}
        assert not mine & cells, f"{p['title']}: overlaps another panel"
        cells |= mine


def test_every_panel_queries_the_prometheus_variable(dashboard):
    variables = {v["name"]: v for v in dashboard["templating"]["list"]}
    assert variables["datasource"]["type"] == "datasource" and variables["datasource"]["query"] == "prometheus"
    for p in panels(dashboard):
        if p["type"] == "row":
            continue
        assert p.get("description"), f"{p['title']}: no description"
        assert p["datasource"] == {"type": "prometheus", "uid": "${datasource}"}, f"{p['title']}: {p['datasource']}"
        assert p["targets"], f"{p['title']}: no query"
        for t in p["targets"]:
            assert t.get("datasource", p["datasource"]) == p["datasource"], p["title"]
            for ref in re.findall(r"\$([a-z_]+)", t["expr"]):
                assert ref in variables or f"$__{ref.removeprefix('__')}" in GRAFANA_VARS, f"{p['title']}: ${ref}"


def test_every_expression_uses_exported_metrics_and_their_labels(dashboard, metrics):
    for p in panels(dashboard):
        for t in p.get("targets", []):
            used, grouping = check_promql(t["expr"], metrics, p["title"])
            # the legend names only labels the result still has
            legend = set(re.findall(r"\{\{\s*(\w+)\s*\}\}", t.get("legendFormat", "")))
            have = grouping if grouping else set().union(*(metrics[n] for n in used)) | TARGET_LABELS
            assert legend <= have, f"{p['title']}: legend uses {sorted(legend - have)}, not in the result"
    for v in dashboard["templating"]["list"]:
        if v["type"] == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(r"label_values\((.*),\s*(\w+)\)", q)
            assert m, f"variable {v['name']}: {q}"
            used, _ = check_promql(m.group(1), metrics, f"variable {v['name']}")
            assert m.group(2) in set().union(*(metrics[n] for n in used)) | TARGET_LABELS


# what an operator must find on the dashboard: (panel title words, a metric its queries use)
REQUIRED_PANELS = [
    ("request rate", "gov_http_requests_total"),
    ("latency", "gov_http_request_seconds_bucket"),
    ("errors", "gov_http_requests_total"),
    ("consumer lag", "gov_consumer_lag"),
    ("outbox backlog", "gov_outbox_backlog"),
    ("dead letters", "gov_dead_letters_total"),
    ("relay throughput", "gov_events_published_total"),
    ("deliveries", "gov_notifications_total"),
    ("failed deliveries", "gov_notifications_total"),
]


@pytest.mark.parametrize(("title", "metric"), REQUIRED_PANELS, ids=[t for t, _ in REQUIRED_PANELS])
def test_the_dashboard_covers(title, metric, dashboard):
    found = [
        p
        for p in panels(dashboard)
        if title in p["title"].lower() and any(metric in t["expr"] for t in p.get("targets", []))
    ]
    assert found, f"no panel '{title}' on {metric}"


def test_per_service_and_per_group_panels_split_by_service(dashboard):
    by_title = {p["title"]: p for p in panels(dashboard)}
    for title in ("Request rate by service", "Latency p50 / p95 / p99 by service", "Consumer lag by group and topic"):
        for t in by_title[title]["targets"]:
            assert re.search(r"by \([^)]*\bservice\b", t["expr"]), f"{title}: not split by service: {t['expr']}"
    errors = by_title["Errors by service and status"]["targets"][0]["expr"]
    assert 'status=~"[45].."' in errors
    failed = by_title["Failed deliveries"]["targets"][0]["expr"]
    assert 'outcome="failed"' in failed


def test_the_dashboard_is_shipped_with_the_kustomize_base():
    kustomization = yaml.safe_load(KUSTOMIZATION.read_text())
    [gen] = [g for g in kustomization.get("configMapGenerator", []) if "grafana" in g["name"]]
    assert gen["files"] == [f"changping-gov.json={DASHBOARD.name}"]
    assert gen["options"]["labels"]["grafana_dashboard"] == "1"
    assert gen["options"]["disableNameSuffixHash"] is True


# ---- the alert rules -------------------------------------------------------------------------


def test_prometheus_rule_parses_and_alerts_on_exported_metrics_and_labels(metrics):
    rule = yaml.safe_load(RULES.read_text())
    assert rule["kind"] == "PrometheusRule" and rule["apiVersion"] == "monitoring.coreos.com/v1"
    assert RULES.name in yaml.safe_load(KUSTOMIZATION.read_text())["resources"]
    alerts = {}
    for group in rule["spec"]["groups"]:
        for r in group["rules"]:
            used, grouping = check_promql(r["expr"], metrics, r["alert"])
            for text in r["annotations"].values():
                for label in re.findall(r"\$labels\.(\w+)", text):
                    assert label in grouping, f"{r['alert']}: annotation uses $labels.{label}, not kept by the expr"
            alerts[r["alert"]] = used
    assert "GovHttpServerErrors" in alerts and alerts["GovHttpServerErrors"] == {"gov_http_requests_total"}


@pytest.mark.parametrize(
    ("expr", "complaint"),
    [
        ("sum(rate(gov_http_request_total[5m]))", "gov_http_request_total"),
        ('sum(rate(gov_http_requests_total{code="500"}[5m]))', "no label code"),
        ("sum by (channel) (gov_consumer_lag)", "lack"),
        ("max(gov_outbox_backlog", "unbalanced"),
        ("sum(rate(http_requests_total[5m]))", "http_requests_total"),
    ],
)
def test_the_checker_catches(expr, complaint, metrics):
    with pytest.raises(AssertionError, match=re.escape(complaint)):
        check_promql(expr, metrics, "mutant")
