"""libs/contracts as a package (issue 15 item 3): `pip install libs/contracts` into a fresh virtualenv (not this
repository's .venv, no system site-packages) gives an importable, typed gov_contracts with its dependencies, its
version and its label table; and `pip install --no-build-isolation` builds it with no index at all.

The first install goes as a subscriber's would: pip fetches setuptools into an isolated build environment and
pydantic from the index (PyPI, or pip's cache). Each install builds from a copy of libs/contracts, so the
working tree gets no build/ or *.egg-info."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

import gov_contracts

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "libs" / "contracts"
DIST = "changping-gov-contracts"
TIMEOUT = 300  # seconds for one pip run; the whole module takes about 30 s with a warm pip cache

# Run by the fresh virtualenv's python: what a subscriber does with the installed package. Prints one JSON object.
CHECK = r"""
import importlib.metadata as md
import json
import sys
from datetime import datetime, timezone
from pathlib import Path

import gov_contracts
import gov_contracts.labels as L
from gov_contracts import REGISTRY, CloudEvent, cases, event_type_for

here = Path(gov_contracts.__file__).resolve().parent
dist = md.distribution(sys.argv[1])
event = cases.CaseEscalated(
    case_id="8b0f3c1e-0000-4000-8000-000000000001", number="CP-2026-000123", category="dispute.land",
    severity="medium", grid_id="changping.kongjiafan.g03", status="accepted", level="village",
    occurred_at=datetime(2026, 11, 30, 8, 0, tzinfo=timezone.utc), actor="system", from_level="grid",
    automatic=True,
)
et = event_type_for(cases.CaseEscalated)
envelope = CloudEvent(type=et.name, source="cases", subject=event.case_id)
back = CloudEvent.from_headers(envelope.headers())
parsed = REGISTRY[back.type].model.model_validate_json(event.model_dump_json())
print(json.dumps({
    "version": gov_contracts.__version__,
    "dist_version": md.version(sys.argv[1]),
    "requires": dist.requires or [],
    "location": str(here),
    "prefix": sys.prefix,
    "py_typed": (here / "py.typed").is_file(),
    "py_typed_recorded": any(str(f).replace("\\", "/") == "gov_contracts/py.typed" for f in dist.files or []),
    "modules": sorted(p.name for p in here.glob("*.py")),
    "pydantic": md.version("pydantic"),
    "line": f"[{parsed.number}] {L.category_label(parsed.category)} 已升级至{L.level_short_label(parsed.level)}",
    "labels": [L.status_label("suspended"), L.severity_label("critical"), L.level_label("village"),
               L.event_type_label(back.type), L.task_type_label("meal_delivery")],
    "same_event": parsed == event,
    "type": back.type,
    "subject": back.subject,
}, ensure_ascii=False))
"""

# A subscriber's code with one mistake: mypy must find it through the installed package's py.typed.
TYPED = """
from gov_contracts.labels import category_label

name: int = category_label("dispute.land")
"""


def _env() -> dict[str, str]:
    """This process's environment without anything that would put the repository's sources on the path."""
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "PYTHONHOME", "VIRTUAL_ENV")}
    env["PYTHONNOUSERSITE"] = "1"
    return env


def _run(args: list[str], cwd: Path) -> subprocess.CompletedProcess[str]:
    r = subprocess.run(args, cwd=cwd, env=_env(), capture_output=True, text=True, timeout=TIMEOUT)
    assert r.returncode == 0, f"{' '.join(map(str, args))} exited {r.returncode}\n{r.stdout}\n{r.stderr}"
    return r


def _copy_of_package(dest: Path) -> Path:
    shutil.copytree(PACKAGE, dest, ignore=shutil.ignore_patterns("__pycache__", "build", "dist", "*.egg-info"))
    return dest


class Venv:
    def __init__(self, home: Path) -> None:
        self.home = home
        self.python = home / "bin" / "python"

    def pip(self, *args: str) -> subprocess.CompletedProcess[str]:
        return _run([str(self.python), "-m", "pip", "--disable-pip-version-check", *args], cwd=self.home)

    def check(self) -> dict:
        r = _run([str(self.python), "-c", CHECK, DIST], cwd=self.home)
        return json.loads(r.stdout)


@pytest.fixture(scope="module")
def venv(tmp_path_factory) -> Venv:
    """A new virtualenv with `pip install libs/contracts` done in it, as a subscriber would."""
    tmp = tmp_path_factory.mktemp("contracts-pkg")
    home = tmp / "venv"
    # sys.executable is the repository's .venv: venv builds on its base interpreter, without the .venv's .pth
    _run([sys.executable, "-m", "venv", str(home)], cwd=tmp)
    cfg = (home / "pyvenv.cfg").read_text()
    assert "include-system-site-packages = false" in cfg, cfg
    v = Venv(home)
    r = v.python.parent / "python"
    nothing = subprocess.run([str(r), "-c", "import gov_contracts"], cwd=tmp, env=_env(), capture_output=True)
    assert nothing.returncode != 0, "gov_contracts importable in a new virtualenv before installing it"
    v.pip("install", str(_copy_of_package(tmp / "contracts")))
    return v


def _assert_installed(info: dict, venv: Venv) -> None:
    assert info["version"] == gov_contracts.__version__ == info["dist_version"]
    # imported from the virtualenv's site-packages, not from the repository
    location = Path(info["location"])
    assert location.is_relative_to(venv.home.resolve()) and "site-packages" in location.parts, location
    assert not location.is_relative_to(ROOT)
    assert info["py_typed"] and info["py_typed_recorded"]
    # every module of the source tree is in the distribution
    assert info["modules"] == sorted(p.name for p in (PACKAGE / "src" / "gov_contracts").glob("*.py"))
    assert any(r.startswith("pydantic") for r in info["requires"]), info["requires"]
    assert info["pydantic"].startswith("2."), info["pydantic"]
    assert info["line"] == "[CP-2026-000123] 土地山林纠纷 已升级至村级"
    assert info["labels"] == ["缓办中", "特别重大", "村(社区)", "案件升级", "助老送餐"]
    assert info["same_event"] is True
    assert (info["type"], info["subject"]) == ("gov.case.escalated.v1", "8b0f3c1e-0000-4000-8000-000000000001")


def test_pip_install_gives_a_typed_package_with_its_dependencies_and_labels(venv):
    _assert_installed(venv.check(), venv)
    shown = venv.pip("show", DIST).stdout
    assert f"Version: {gov_contracts.__version__}" in shown and "Requires: pydantic" in shown, shown


def test_type_checkers_use_the_installed_annotations(venv, tmp_path):
    """py.typed at work: the repository's mypy, pointed at the new virtualenv, checks against the installed
    package (not the source tree: the check runs outside the repository, with no configuration)."""
    (tmp_path / "subscriber.py").write_text(TYPED)
    mypy = Path(sys.executable).parent / "mypy"
    r = subprocess.run(
        [
            str(mypy),
            "--python-executable",
            str(venv.python),
            "--no-incremental",
            "--config-file",
            os.devnull,
            "--follow-imports=silent",
            "subscriber.py",
        ],
        cwd=tmp_path,
        env=_env(),
        capture_output=True,
        text=True,
        timeout=TIMEOUT,
    )
    out = r.stdout + r.stderr
    assert r.returncode == 1, out
    assert 'Incompatible types in assignment (expression has type "str", variable has type "int")' in out, out
    assert "import-untyped" not in out and "import-not-found" not in out, out


def test_no_build_isolation_builds_it_without_an_index(venv, tmp_path):
    """pip install --no-build-isolation: the environment's own setuptools builds it (setuptools 70.1+ builds wheels
    by itself; the 65 of Python 3.11's venv needs `wheel` as well, libs/contracts/README.md). --no-index: nothing is
    fetched, neither for the build nor for the dependencies, which are already there."""
    venv.pip("install", "--quiet", "setuptools>=70.1")
    venv.pip("uninstall", "--yes", DIST)
    venv.pip("install", "--no-build-isolation", "--no-index", str(_copy_of_package(tmp_path / "contracts")))
    _assert_installed(venv.check(), venv)
