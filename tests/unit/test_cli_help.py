"""`./gov help`, `./gov help <command>` and `--help`/`-h` on every command and subcommand print
the usage and do nothing else: no install, no stack, no network, no file written.

The commands are discovered from govctl's argparse parser (govctl.cli.build_parser), so a
command added later is covered without touching this file. Each is run through the real
./gov shell script in a subprocess, twice:

- in the project, with GOV_HOME pointing at a directory that does not exist (every command
  that touches the stack creates it, with stack.json) and a PATH whose first directory holds
  stubs of the programs the stack and the commands start (java, mvn, kubectl, initdb, pg_ctl,
  postgres, tail, pip, docker, ...): each stub records its call and fails. Nothing may be
  recorded, GOV_HOME must not appear, and .venv (its lock hash and its site-packages' path
  file, which `./gov install` rewrites) must be untouched;
- in a copy of the project's root without .venv (a fresh clone: ./gov would install before
  any other command), with the system Python: the help must come without creating .venv.
"""

from __future__ import annotations

import os
import subprocess
import sys
import sysconfig
from pathlib import Path

import pytest

from govctl.cli import build_parser, subcommands

ROOT = Path(__file__).resolve().parents[2]
GOV = ROOT / "gov"
STUBBED = (
    "java",
    "mvn",
    "kubectl",
    "initdb",
    "pg_ctl",
    "postgres",
    "psql",
    "pg_isready",
    "tail",
    "pip",
    "pip3",
    "docker",
    "curl",
    "wget",
    "chromium",
    "sha256sum",  # ./gov hashes requirements.lock only to decide on an install
)


def command_paths() -> list[tuple[str, ...]]:
    """Every command and subcommand of ./gov, as the words that name it: ("up",), ("dlq", "list"), ..."""
    out: list[tuple[str, ...]] = []

    def walk(parser, words: tuple[str, ...]) -> None:
        for name, child in subcommands(parser).items():
            out.append((*words, name))
            walk(child, (*words, name))

    walk(build_parser(), ())
    return out


COMMANDS = command_paths()


def test_the_parser_has_the_commands_of_the_readme():
    names = {words[0] for words in COMMANDS}
    assert names >= {"help", "install", "up", "down", "status", "logs", "migrate", "token", "areas", "contracts"}
    assert names >= {"reporting", "dlq", "test", "lint", "k8s", "bench"}
    assert ("dlq", "list") in COMMANDS and ("dlq", "redrive") in COMMANDS


@pytest.fixture(scope="module")
def stubs(tmp_path_factory) -> tuple[Path, Path]:
    """A bin directory of recording stubs and the file they record to."""
    bindir = tmp_path_factory.mktemp("stub-bin")
    record = bindir / "calls.log"
    for name in STUBBED:
        stub = bindir / name
        stub.write_text(f'#!/bin/sh\necho "{name} $*" >> "{record}"\nexit 97\n')
        stub.chmod(0o755)
    return bindir, record


def _venv_marks() -> dict[str, float | None]:
    """What ./gov install writes: .venv/.lock-hash and the .pth file in site-packages."""
    site = Path(sysconfig.get_paths()["purelib"])
    files = [ROOT / ".venv" / ".lock-hash", site / "changping-gov.pth", ROOT / ".venv" / "pyvenv.cfg"]
    return {str(f): (f.stat().st_mtime if f.exists() else None) for f in files}


def _run(args: list[str], env: dict[str, str], gov: Path = GOV) -> subprocess.CompletedProcess:
    return subprocess.run(["bash", str(gov), *args], capture_output=True, text=True, env=env, timeout=60)


def _env(stubs: tuple[Path, Path], home: Path) -> dict[str, str]:
    bindir, _ = stubs
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOV_", "KAFKA_"))}
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["GOV_HOME"] = str(home)  # does not exist: a command touching the stack would create it
    env["GOV_KAFKA_LIB"] = str(home / "kafka-lib")
    # no route to a broker or a database: a command that tried would hang or fail, not succeed
    env["KAFKA_BOOTSTRAP_SERVERS"] = "127.0.0.1:1"
    env["GOV_PG_ADMIN_DSN"] = "postgresql://nobody@127.0.0.1:1/none"
    env["http_proxy"] = env["https_proxy"] = "http://127.0.0.1:1"
    return env


def _assert_only_help(r: subprocess.CompletedProcess, what: str, stubs, home: Path) -> None:
    _, record = stubs
    assert r.returncode == 0, f"{what}: exit {r.returncode}\n{r.stderr}"
    assert r.stdout.startswith("usage: gov"), f"{what}: {r.stdout[:300]!r}"
    assert "Traceback" not in r.stderr and "installing" not in r.stderr, f"{what}: {r.stderr}"
    assert not home.exists(), f"{what}: created {home}"
    assert not record.exists(), f"{what}: started {record.read_text()}"


@pytest.mark.parametrize("flag", ["--help", "-h"])
@pytest.mark.parametrize("words", COMMANDS, ids=" ".join)
def test_help_flag_on_every_command_only_prints_the_usage(words, flag, stubs, tmp_path):
    home = tmp_path / "gov-home"
    before = _venv_marks()
    r = _run([*words, flag], _env(stubs, home))
    _assert_only_help(r, f"./gov {' '.join(words)} {flag}", stubs, home)
    assert f"usage: gov {' '.join(words)}" in r.stdout
    assert _venv_marks() == before, "the virtualenv was touched"


@pytest.mark.parametrize("words", [(), *COMMANDS], ids=lambda w: " ".join(["help", *w]))
def test_help_command_prints_the_usage_of_each_command(words, stubs, tmp_path):
    home = tmp_path / "gov-home"
    r = _run(["help", *words], _env(stubs, home))
    _assert_only_help(r, f"./gov help {' '.join(words)}", stubs, home)
    assert r.stdout.startswith(f"usage: {' '.join(['gov', *words])} ")
    if not words:
        for name in {w[0] for w in COMMANDS}:
            assert f"\n    {name}" in r.stdout, f"./gov help does not list {name}"


def test_gov_alone_and_global_help_print_the_usage(stubs, tmp_path):
    home = tmp_path / "gov-home"
    for args in ([], ["--help"], ["-h"]):
        r = _run(args, _env(stubs, home))
        _assert_only_help(r, f"./gov {' '.join(args)}", stubs, home)
        assert "help" in r.stdout and "install" in r.stdout


@pytest.fixture(scope="module")
def fresh_clone(tmp_path_factory) -> Path:
    """The project's root without .venv: the script and the source trees (symlinked)."""
    root = tmp_path_factory.mktemp("clone")
    (root / "gov").write_bytes(GOV.read_bytes())
    (root / "gov").chmod(0o755)
    for name in ("requirements.lock", "tools", "libs", "services", "data", "deploy", "bench", "tests"):
        (root / name).symlink_to(ROOT / name)
    return root


def _system_python() -> str:
    base = Path(getattr(sys, "_base_executable", "") or "")
    return str(base) if base.name and base.exists() else "python3"


@pytest.mark.parametrize("words", [(), ("install",), *COMMANDS], ids=lambda w: " ".join(w) or "gov")
def test_help_before_the_first_install_creates_no_virtualenv(words, fresh_clone, stubs, tmp_path):
    home = tmp_path / "gov-home"
    env = _env(stubs, home)
    env["PYTHON"] = _system_python()
    r = _run([*words, "--help"], env, gov=fresh_clone / "gov")
    _assert_only_help(r, f"(no .venv) ./gov {' '.join(words)} --help", stubs, home)
    assert not (fresh_clone / ".venv").exists(), "./gov --help created .venv"
    assert not (fresh_clone / ".local").exists(), "./gov --help created .local"


def test_install_with_arguments_is_refused_before_installing(fresh_clone, stubs, tmp_path):
    env = _env(stubs, tmp_path / "gov-home")
    env["PYTHON"] = _system_python()
    r = _run(["install", "--now"], env, gov=fresh_clone / "gov")
    assert r.returncode == 2 and r.stderr.strip().count("\n") == 0, r.stderr
    assert r.stderr.startswith("gov: install:")
    assert not (fresh_clone / ".venv").exists()


BENCHMARKS = sorted(p.name.removesuffix("_bench.py") for p in (ROOT / "bench").glob("*_bench.py"))


@pytest.mark.parametrize("name", BENCHMARKS)
def test_a_benchmarks_help_starts_no_stack(name, stubs, tmp_path):
    """./gov bench <name> --help hands --help to the benchmark, whose argparse answers before any stack."""
    _, record = stubs
    home = tmp_path / "gov-home"
    results = ROOT / "bench" / "results"
    before = sorted((p.name, p.stat().st_mtime) for p in results.iterdir()) if results.exists() else []
    r = _run(["bench", name, "--help"], _env(stubs, home))
    assert r.returncode == 0 and r.stdout.startswith(f"usage: {name}_bench.py"), (r.returncode, r.stdout, r.stderr)
    assert "Traceback" not in r.stderr
    assert not home.exists() and not record.exists()
    after = sorted((p.name, p.stat().st_mtime) for p in results.iterdir()) if results.exists() else []
    assert after == before, "the benchmark wrote results"
