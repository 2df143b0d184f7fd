"""govctl.kustomize: deploy/k8s rendered by the pinned kubectl's Kustomize, and `./gov k8s render`."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from govctl import kustomize
from govctl.errors import StackError

ROOT = Path(__file__).resolve().parents[2]


def test_the_pinned_kubectl_is_the_one_used():
    version = subprocess.run(
        [kustomize.kubectl(), "version", "--client"], capture_output=True, text=True, timeout=60
    ).stdout
    assert "Client Version: v1.37" in version and "Kustomize Version: v5" in version


def test_names_resolve_to_directories_with_a_kustomization():
    assert kustomize.directory("base") == ROOT / "deploy" / "k8s" / "base"
    assert kustomize.directory("production") == ROOT / "deploy" / "k8s" / "overlays" / "production"
    assert kustomize.directory(str(ROOT / "deploy" / "k8s" / "base")) == ROOT / "deploy" / "k8s" / "base"
    with pytest.raises(StackError, match="no kustomization 'staging'.*production"):
        kustomize.directory("staging")


def test_the_overlay_applies_namespace_images_and_patches():
    base = {(d["kind"], d["metadata"]["name"]): d for d in kustomize.build(kustomize.directory("base"))}
    prod = {(d["kind"], d["metadata"]["name"]): d for d in kustomize.build(kustomize.directory("production"))}
    namespaces = [name for kind, name in prod if kind == "Namespace"]
    assert len(namespaces) == 1 and set(base) <= set(prod)
    assert all(d["metadata"].get("namespace") == namespaces[0] for (kind, _), d in prod.items() if kind != "Namespace")
    assert prod["ConfigMap", "gov-config"]["data"]["GOV_ENV"] == "production"
    assert base["ConfigMap", "gov-config"]["data"]["GOV_ENV"] != "production"
    image = prod["Deployment", "cases"]["spec"]["template"]["spec"]["containers"][0]["image"]
    assert image != base["Deployment", "cases"]["spec"]["template"]["spec"]["containers"][0]["image"]


def test_a_broken_kustomization_is_one_line_naming_it(tmp_path):
    (tmp_path / "kustomization.yaml").write_text("resources: [missing.yaml]\n")
    with pytest.raises(StackError, match=f"kubectl kustomize {tmp_path}: .*missing.yaml"):
        kustomize.build(tmp_path)


def test_gov_k8s_render_prints_the_objects():
    r = subprocess.run(
        [sys.executable, "-m", "govctl", "k8s", "render", "base"], capture_output=True, text=True, cwd=ROOT, timeout=120
    )
    assert r.returncode == 0, r.stderr
    assert [d["kind"] for d in yaml.safe_load_all(r.stdout) if d] == [
        d["kind"] for d in kustomize.build(kustomize.directory("base"))
    ]
    r = subprocess.run(
        [sys.executable, "-m", "govctl", "k8s", "render", "staging"],
        capture_output=True,
        text=True,
        cwd=ROOT,
        timeout=60,
    )
    assert r.returncode == 1 and "no kustomization 'staging'" in r.stderr and "Traceback" not in r.stderr
