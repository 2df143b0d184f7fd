"""Every bad argument to ./gov is one line on stderr, `gov: <what to fix>`, exit status 2 (as
argparse does), never a traceback, and nothing is done: no stack state written, no program
started, no connection made. Run through the real ./gov script, like test_cli_help.py.
"""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import pytest

from govctl.cli import build_parser
from tests.unit.test_cli_help import COMMANDS, GOV, ROOT, STUBBED

# (arguments, a fragment the one line must hold)
BAD = [
    (["nosuch"], "unknown command 'nosuch'; choose from help, install, up"),
    (["token", "--role", "mayor"], "unknown role 'mayor'; known roles: analyst"),
    (["token", "--sub", "x", "--role", "mayor"], "grid_manager"),
    (["token", "--sub", "x", "--role", "grid_manager", "--area", "Changping/kjf"], "'Changping/kjf' is not an area id"),
    (["token", "--sub", "x", "--area", "changping.a.b.c"], "is not an area id"),
    (["token", "--sub", "x", "--ttl", "abc"], "--ttl: 'abc' is not a whole number"),
    (["token", "--sub", "x", "--ttl", "-5"], "--ttl"),
    (["token", "--sub", "x", "--ttl", "0"], "0 is too small"),
    (["token", "--sub", "x", "--role"], "--role: expected one argument"),
    (["token", "--sub", ""], "--sub: must not be empty"),
    (["token"], "required: --sub"),
    (["token", "--sub", "x", "--colour", "red"], "unrecognized arguments: --colour red"),
    (["logs", "-n", "many"], "-n/--lines: 'many' is not a whole number"),
    (["logs", "-n", "-1"], "-n/--lines"),
    (["dlq"], "dlq: the following arguments are required: action"),
    (["dlq", "purge"], "unknown action 'purge'; choose from list, redrive"),
    (["dlq", "list", "--limit", "0"], "--limit: 0 is too small"),
    (["dlq", "list", "--limit", "ten"], "--limit: 'ten' is not a whole number"),
    (["dlq", "list", "--bootstrap", "kafka"], "'kafka' is not host:port"),
    (["dlq", "list", "--bootstrap", "kafka:99999"], "'kafka:99999' is not host:port"),
    (["dlq", "redrive"], "required: --group"),
    (["areas"], "areas: the following arguments are required: action"),
    (["areas", "frobnicate"], "unknown action 'frobnicate'; choose from validate, publish, shapes"),
    (["areas", "validate", "/nonexistent/areas.yaml"], "no file '/nonexistent/areas.yaml'"),
    (["areas", "publish", "--bootstrap", "x"], "'x' is not host:port"),
    (["contracts", "burn"], "unknown action 'burn'; choose from export, check"),
    (["reporting", "replay"], "unknown action 'replay'; choose from rebuild"),
    (["k8s", "apply"], "unknown action 'apply'; choose from render"),
    (["bench", "nosuch"], "no benchmark 'nosuch'"),
    (["help", "nosuch"], "help: no command 'nosuch'"),
    (["help", "dlq", "nosuch"], "help dlq: no command 'nosuch'; choose from list, redrive"),
    (["help", "up", "now"], "help up: no command 'now'"),
    (["install", "now"], "install: takes no arguments"),
    (["up", "--fast"], "unrecognized arguments: --fast"),
    (["down", "everything"], "unrecognized arguments: everything"),
]


def _env(tmp_path: Path) -> tuple[dict[str, str], Path, Path]:
    bindir = tmp_path / "bin"
    bindir.mkdir()
    record = tmp_path / "calls.log"
    for name in STUBBED:
        (bindir / name).write_text(f'#!/bin/sh\necho "{name} $*" >> "{record}"\nexit 97\n')
        (bindir / name).chmod(0o755)
    home = tmp_path / "gov-home"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("GOV_", "KAFKA_"))}
    env.update(PATH=f"{bindir}{os.pathsep}{env.get('PATH', '')}", GOV_HOME=str(home))
    env["GOV_KAFKA_LIB"] = str(home / "kafka-lib")
    env["http_proxy"] = env["https_proxy"] = "http://127.0.0.1:1"
    return env, home, record


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess:
    # sha256sum is stubbed: ./gov runs it only to decide on an install, so let it through here
    env = dict(env, PATH=env["PATH"].split(os.pathsep, 1)[1]) if args[:1] != ["install"] else env
    return subprocess.run(["bash", str(GOV), *args], capture_output=True, text=True, env=env, timeout=60)


def assert_one_line(r: subprocess.CompletedProcess, what: str, status: int = 2) -> str:
    assert "Traceback" not in r.stderr, f"{what}: {r.stderr}"
    lines = r.stderr.splitlines()
    assert len(lines) == 1, f"{what}: {len(lines)} lines on stderr:\n{r.stderr}"
    assert lines[0].startswith("gov: "), f"{what}: {lines[0]}"
    assert r.returncode == status, f"{what}: exit {r.returncode}: {lines[0]}"
    assert r.stdout == "", f"{what}: printed {r.stdout[:200]!r}"
    return lines[0]


@pytest.mark.parametrize(("args", "says"), BAD, ids=lambda v: " ".join(v) if isinstance(v, list) else "")
def test_a_bad_argument_is_one_line_and_exit_2(args, says, tmp_path):
    env, home, record = _env(tmp_path)
    line = assert_one_line(_run(args, env), f"./gov {' '.join(args)}")
    assert says in line, line
    assert not home.exists(), f"./gov {' '.join(args)} created {home}"
    assert not record.exists(), record.read_text()


# every command that parses its own arguments (test and bench hand theirs on to pytest and the benchmark)
OWN_PARSER = [w for w in COMMANDS if w[0] not in ("test", "bench")]


@pytest.mark.parametrize("words", OWN_PARSER, ids=" ".join)
def test_an_unknown_option_on_every_command_is_one_line(words, tmp_path):
    env, home, _ = _env(tmp_path)
    line = assert_one_line(_run([*words, "--no-such-option"], env), f"./gov {' '.join(words)} --no-such-option")
    # the option named, or first what is missing before it
    assert "--no-such-option" in line or "required" in line, line
    assert f"./gov help {' '.join(words)}" in line, line
    assert not home.exists()


@pytest.mark.parametrize(
    ("variable", "value", "args", "says"),
    [
        ("GOV_KAFKA_PARTITIONS", "many", ["status"], "GOV_KAFKA_PARTITIONS='many'"),
        ("GOV_KAFKA_PARTITIONS", "0", ["down"], "1 or more"),
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka", ["dlq", "list"], "KAFKA_BOOTSTRAP_SERVERS: 'kafka' is not host:port"),
        ("KAFKA_BOOTSTRAP_SERVERS", "kafka:port", ["areas", "publish"], "KAFKA_BOOTSTRAP_SERVERS"),
    ],
)
def test_a_bad_environment_variable_is_one_line(variable, value, args, says, tmp_path):
    env, home, record = _env(tmp_path)
    line = assert_one_line(_run(args, {**env, variable: value}), f"{variable}={value} ./gov {' '.join(args)}")
    assert says in line, line
    assert not home.exists() and not record.exists()


def test_an_invalid_area_file_is_one_line_and_exit_1(tmp_path):
    """Not an argument error: the file exists and is read, its content is wrong (which entry, which field)."""
    env, _, _ = _env(tmp_path)
    bad = tmp_path / "areas.yaml"
    bad.write_text(
        "areas:\n  - {id: changping, kind: town, name: 长坪镇}\n  - {id: changping.x, kind: planet, name: X}\n"
    )
    line = assert_one_line(_run(["areas", "validate", str(bad)], env), "areas validate", status=1)
    assert "areas[1] (changping.x): field 'kind'" in line, line


def test_an_unknown_overlay_is_one_line(tmp_path):
    """Exit status 1 (not 2), as tests/unit/test_kustomize.py has it: the name is looked up on disk."""
    env, _, _ = _env(tmp_path)
    line = assert_one_line(_run(["k8s", "render", "no-such-overlay"], env), "k8s render", status=1)
    assert "no kustomization 'no-such-overlay'" in line, line


def test_kafka_unreachable_is_one_line_and_exit_1(tmp_path):
    env, _, _ = _env(tmp_path)
    r = _run(["areas", "publish", "--bootstrap", "127.0.0.1:1"], env)
    line = assert_one_line(r, "areas publish to nowhere", status=1)
    assert "kafka at 127.0.0.1:1 not reachable" in line, line


def test_parse_errors_never_exit_from_inside_argparse():
    """The parser raises UsageError (printed by main) rather than printing usage lines and exiting."""
    from govctl.errors import UsageError

    with pytest.raises(UsageError, match=r"^token: argument --ttl"):
        build_parser().parse_args(["token", "--sub", "x", "--ttl", "soon"])
    assert ROOT.joinpath("gov").exists()


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b"\xa2\x00\xff not text", "not UTF-8 text (byte 0)"),
        (b"areas: [1, 2\n", "not valid YAML at line 2, column 1"),
        (b"- just a list\n", "expected a top-level 'areas:' list"),
    ],
    ids=["binary", "broken YAML", "no areas list"],
)
def test_an_unreadable_area_file_is_one_line_and_exit_1(content, says, tmp_path):
    env, _, _ = _env(tmp_path)
    bad = tmp_path / "areas.yaml"
    bad.write_bytes(content)
    line = assert_one_line(_run(["areas", "validate", str(bad)], env), "areas validate", status=1)
    assert says in line, line


def test_a_broken_stack_state_is_one_line_and_exit_1(tmp_path):
    env, home, _ = _env(tmp_path)
    home.mkdir()
    (home / "stack.json").write_text("{")
    line = assert_one_line(_run(["status"], env), "status with a broken stack.json", status=1)
    assert "stack.json: not JSON" in line and "move it aside" in line, line
    a_file = tmp_path / "not-a-dir"
    a_file.write_text("")
    line = assert_one_line(_run(["status"], {**env, "GOV_HOME": str(a_file)}), "GOV_HOME a file", status=1)
    assert "cannot use it as the stack's directory (GOV_HOME)" in line, line


def test_commands_that_need_the_stack_say_so_in_one_line(tmp_path):
    """A known component without a log, a rebuild with no stack: exit 1, what to start; a bad admin DSN: exit 2."""
    env, home, record = _env(tmp_path)
    line = assert_one_line(_run(["logs", "cases"], env), "logs cases before up", status=1)
    assert "cases has no log yet" in line and "./gov up" in line, line
    line = assert_one_line(_run(["logs", "nosuch"], env), "logs nosuch")
    assert "no component 'nosuch'; components: postgres, kafka, cases" in line, line
    line = assert_one_line(_run(["reporting", "rebuild"], env), "rebuild before up", status=1)
    assert line == "gov: no PostgreSQL: start the local stack (./gov up) first", line
    line = assert_one_line(_run(["reporting", "rebuild"], {**env, "GOV_PG_ADMIN_DSN": "nonsense"}), "bad DSN")
    assert "GOV_PG_ADMIN_DSN: expected postgresql://" in line, line
    assert not record.exists(), record.read_text()
