"""./gov <command>: one entry point for operators and developers.

`./gov help [command ...]` and `-h`/`--help` on any command print the usage and do
nothing else. This module imports only the standard library at the top (the commands
import what they need), so the help works before the virtualenv exists (the ./gov
script then runs it with the system Python) and in the service image, which lacks
the local stack's packages (docker-compose.yml's `areas` job runs `areas publish`).

A bad argument is one line on stderr, `gov: <what to fix>`, exit status 2
(UsageError, argparse's convention); a problem met while doing the work is one
line and exit status 1 (StackError); never a traceback.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import time
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

from govctl.errors import StackError, UsageError

if TYPE_CHECKING:
    from govctl.stack import Stack

# Roles and area ids are checked here (before any state is read or written); the same rules as
# govkit.auth.mint, which stays the authority (its ValueError becomes a UsageError too).
AREA_ID = re.compile(r"[a-z][a-z0-9_]*(\.[a-z][a-z0-9_]*){0,2}")


def project_root() -> Path:
    from govctl.stack import project_root as root

    return root()


def _stack(args) -> Stack:
    from govctl.stack import Stack

    raw = os.environ.get("GOV_KAFKA_PARTITIONS", "12")
    try:
        partitions = int(raw)
    except ValueError:
        partitions = 0
    if partitions < 1:
        raise UsageError(f"GOV_KAFKA_PARTITIONS={raw!r}: a whole number of partitions, 1 or more")
    home = Path(os.environ.get("GOV_HOME", project_root() / ".local"))
    try:
        return Stack(home, external_pg=os.environ.get("GOV_PG_ADMIN_DSN") or None, partitions=partitions)
    except ValueError as e:  # json.JSONDecodeError
        raise StackError(f"{home / 'stack.json'}: not JSON ({e}); move it aside to start afresh") from None
    except OSError as e:
        raise StackError(f"{home}: cannot use it as the stack's directory (GOV_HOME): {e.strerror}") from None


# ---- argument types: each raises ArgumentTypeError, which the parser turns into one line ----


def _int_at_least(low: int, what: str):
    def parse(text: str) -> int:
        try:
            n = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number ({what})") from None
        if n < low:
            raise argparse.ArgumentTypeError(f"{n} is too small: {what}")
        return n

    parse.__name__ = "number"
    return parse


def _bootstrap(text: str) -> str:
    """host:port[,host:port...]"""
    for part in text.split(","):
        host, sep, port = part.strip().rpartition(":")
        if not sep or not host or not port.isdigit() or not 0 < int(port) < 65536:
            raise argparse.ArgumentTypeError(f"{part.strip()!r} is not host:port (e.g. 127.0.0.1:9092)")
    return text


def _nonempty(text: str) -> str:
    if not text.strip():
        raise argparse.ArgumentTypeError("must not be empty")
    return text


def _role(text: str) -> str:
    try:
        from govkit.auth import ROLES
    except ImportError:  # no virtualenv yet: mint() checks again
        return text
    if text not in ROLES:
        raise argparse.ArgumentTypeError(f"unknown role {text!r}; known roles: {', '.join(sorted(ROLES))}")
    return text


def _area(text: str) -> str:
    if not AREA_ID.fullmatch(text):
        raise argparse.ArgumentTypeError(
            f"{text!r} is not an area id: lower-case town[.village[.grid]], e.g. changping.kongjiafan.g03"
        )
    return text


_INVALID_CHOICE = re.compile(r"argument (?P<dest>[^:]+): invalid choice: (?P<value>.*) \(choose from (?P<choices>.*)\)")


class Parser(argparse.ArgumentParser):
    """An ArgumentParser whose errors are one line (raised as UsageError, printed by main)."""

    def error(self, message: str) -> NoReturn:
        cmd = self.prog.removeprefix("gov").strip()
        m = _INVALID_CHOICE.fullmatch(message)
        if m:  # "argument command: invalid choice: 'x' (choose from 'a', 'b')"
            message = (
                f"unknown {m.group('dest')} {m.group('value')}; choose from {m.group('choices').replace(chr(39), '')}"
            )
        where = f"{cmd}: " if cmd else ""
        raise UsageError(f"{where}{message} (usage: {' '.join(['./gov help', cmd]).strip()})")

    def parse_args(self, args=None, namespace=None):
        """As argparse's, but arguments left over are blamed on the (sub)command that was given them."""
        ns, extras = self.parse_known_args(args, namespace)
        if extras:
            parser: argparse.ArgumentParser = self
            while True:
                action = next((a for a in parser._actions if isinstance(a, argparse._SubParsersAction)), None)
                name = getattr(ns, action.dest, None) if action else None
                if action is None or name not in action.choices:
                    break
                parser = action.choices[name]
            parser.error(f"unrecognized arguments: {' '.join(extras)}")
        return ns


def cmd_up(args) -> None:
    from govctl.stack import SERVICES

    t0 = time.monotonic()
    st = _stack(args)
    st.up(services=not args.no_services, demo=not args.no_demo)
    print(f"\nup in {time.monotonic() - t0:.1f}s. Try:")
    for svc in SERVICES:
        if not args.no_services:
            print(f"  curl {st.url(svc)}/readyz     # OpenAPI: {st.url(svc)}/docs")
    print("  ./gov status     # ports, processes, memory and log files")
    print("  ./gov token --sub admin --role town_admin --area changping   # a development token")
    print("  ./gov down")


def cmd_down(args) -> None:
    _stack(args).down()
    print("stack stopped (data kept in .local/; remove it for a clean start)")


def cmd_status(args) -> None:
    st = _stack(args)
    mem = st.memory()
    print(f"{'component':<12}{'state':<10}{'address':<28}{'rss MB':>8}  log")
    for name, state, addr, log in st.status():
        m = mem.get(name)
        print(f"{name:<12}{state:<10}{addr:<28}{(f'{m:.0f}' if m else '-'):>8}  {log}")


def cmd_logs(args) -> None:
    st = _stack(args)
    logs = {row[0]: row[3] for row in st.status()}
    if not args.component:
        for k, v in logs.items():
            print(f"{k:<12}{v}")
        return
    path = logs.get(args.component)
    if not path:
        raise UsageError(f"logs: no component {args.component!r}; components: {', '.join(logs)}")
    if not Path(path).exists():
        raise StackError(f"logs: {args.component} has no log yet ({path}): ./gov up starts it")
    os.execvp("tail", ["tail", "-n", str(args.lines), *(["-f"] if args.follow else []), path])


def cmd_migrate(args) -> None:
    st = _stack(args)
    st.up_postgres()
    st.migrate()


def cmd_token(args) -> None:
    from govkit.auth import mint

    st = _stack(args)
    try:
        token = mint(
            key=st.state["jwt_secret"],
            sub=args.sub,
            roles=args.role or [],
            areas=args.area or [],
            permissions=args.perm or [],
            ttl_s=args.ttl,
        )
    except ValueError as e:  # an unknown role or a malformed area id (the parser checks them first)
        raise UsageError(f"token: {e}") from None
    print(token)
    st.save()


def cmd_areas(args) -> None:
    from govctl import areas

    path = Path(args.file) if args.file else areas.DEFAULT_FILE
    if not path.is_file():
        raise UsageError(f"areas {args.action}: no file {str(path)!r} (an area tree YAML, e.g. {areas.DEFAULT_FILE})")
    events, version = areas.load(path)
    kinds: dict[str, int] = {}
    for e in events:
        kinds[e.kind.value] = kinds.get(e.kind.value, 0) + 1
    summary = ", ".join(f"{n} {k}" for k, n in kinds.items())
    if args.action == "validate":
        print(f"{path}: valid ({summary}; tree version {version})")
        return
    if args.action == "shapes":
        from govctl import area_shapes

        n = area_shapes.write(path)
        print(f"{path}: wrote the demo shapes of {n} areas (tree version {areas.load(path)[1]})")
        return
    bootstrap = _kafka_bootstrap(args)
    _quiet_kafka_client()
    try:
        n = areas.publish(bootstrap, path)
    except StackError:
        raise
    except Exception as e:  # aiokafka: broker unreachable, topic missing, timed out
        raise StackError(f"areas publish: kafka at {bootstrap}: {type(e).__name__}: {e}") from None
    print(f"published {n} areas ({summary}; tree version {version}) to gov.areas.v1")


def cmd_contracts(args) -> None:
    from gov_contracts import schemas
    from govctl import contracts_export

    if args.action == "export":
        try:
            written = schemas.export(project_root() / "contracts")
        except ValueError as e:
            raise StackError(str(e)) from None
        docs = contracts_export.export(project_root() / "contracts")
        print(
            f"wrote {len(written)} schema file(s) under contracts/events/ and {len(docs)} AsyncAPI/OpenAPI "
            f"document(s) under contracts/asyncapi/, contracts/openapi/"
        )
    else:
        problems = schemas.check(project_root() / "contracts") + contracts_export.check(project_root() / "contracts")
        if problems:
            raise StackError("contracts: " + "; ".join(problems))
        print("contracts: committed schemas and AsyncAPI/OpenAPI documents match the code")


def _running_stack(st: Stack, svc: str) -> tuple[str, str]:
    """The service's DSN and the broker of the local stack, or one line saying what to start or fix."""
    try:
        dsn = st.service_dsn(svc)
    except KeyError:
        raise StackError("no PostgreSQL: start the local stack (./gov up) first") from None
    except (IndexError, ValueError):
        raise UsageError("GOV_PG_ADMIN_DSN: expected postgresql://user:password@host[:port]/database") from None
    if not st.state["kafka"].get("port"):
        raise StackError("no Kafka: start the local stack (./gov up) first")
    return dsn, st.bootstrap


def cmd_reporting(args) -> None:
    import asyncio

    from reporting.rebuild import RebuildFailed, rebuild

    st = _stack(args)
    dsn, bootstrap = _running_stack(st, "reporting")
    try:
        result = asyncio.run(rebuild(dsn, bootstrap))
    except RebuildFailed as e:
        raise StackError(f"reporting rebuild failed, the projections are unchanged: {e}") from None
    except OSError as e:  # the database refused or is not there (asyncpg raises OSError subclasses)
        raise StackError(f"reporting rebuild: cannot reach PostgreSQL: {e}; is the stack up (./gov status)?") from None
    if result["dropped_leftover"]:
        print("dropped the shadow tables of an interrupted rebuild")
    print(
        f"rebuilt reporting projections: {result['applied']} events applied ({result['events']} read, "
        f"{result['duplicates']} duplicates, {result['skipped']} skipped) in {result['seconds']}s "
        f"({result['events_per_s']:,.0f} events/s overall, with the shadow tables, their indexes and the swap; "
        f"the live consumer waited {result['swap_seconds']}s for the swap)"
    )
    if result["skipped"]:
        reasons = ", ".join(f"{reason} {n}" for reason, n in result["skipped_by_reason"].items())
        print(f"skipped, as the live consumer dead-letters them: {reasons}; the first:")
        for s in result["first_skipped"]:
            print(f"  {s['topic']}/{s['partition']}@{s['offset']} {s['reason']}: {s['detail']}")


def _kafka_bootstrap(args) -> str:
    """--bootstrap, else KAFKA_BOOTSTRAP_SERVERS, else the local stack's broker."""
    if args.bootstrap:
        return args.bootstrap
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        try:
            return _bootstrap(os.environ["KAFKA_BOOTSTRAP_SERVERS"])
        except argparse.ArgumentTypeError as e:
            raise UsageError(f"KAFKA_BOOTSTRAP_SERVERS: {e}") from None
    port = _stack(args).state["kafka"].get("port")
    if not port:
        raise StackError("no Kafka: start the local stack (./gov up) or pass --bootstrap host:port")
    return f"127.0.0.1:{port}"


def _quiet_kafka_client() -> None:
    """aiokafka logs each failed connection attempt; the command reports the failure in one line itself."""
    import logging

    logging.getLogger("aiokafka").setLevel(logging.CRITICAL)


def cmd_dlq(args) -> None:
    import asyncio

    from govctl import dlq

    bootstrap = _kafka_bootstrap(args)
    _quiet_kafka_client()
    state = Path(os.environ.get("GOV_HOME", project_root() / ".local")) / dlq.STATE_FILE
    if args.action == "list":
        asyncio.run(dlq.list_letters(bootstrap, state, group=args.group, reason=args.reason, limit=args.limit))
    else:
        asyncio.run(dlq.redrive(bootstrap, state, group=args.group, reason=args.reason, dry_run=args.dry_run))


def cmd_test(args) -> None:
    root = project_root()
    r = subprocess.run([sys.executable, "-m", "pytest", *args.pytest_args], cwd=root)
    raise SystemExit(r.returncode)


def cmd_lint(args) -> None:
    """The gate: ruff check, ruff format --check and mypy, with the virtualenv's own binaries and the configuration
    in pyproject.toml. All three run; the exit status is non-zero if any of them found something. --fix lets ruff
    fix what it can and reformat the files first."""
    root = project_root()
    bindir = Path(sys.executable).parent  # the .venv's bin: ./gov runs govctl with the venv's python
    steps = [
        ["ruff", "check", *(["--fix"] if args.fix else [])],
        ["ruff", "format", *([] if args.fix else ["--check"])],
        ["mypy"],
    ]
    failed = []
    for name, *rest in steps:
        print(f"gov lint: {name} {' '.join(rest)}".rstrip(), flush=True)
        if subprocess.run([str(bindir / name), *rest], cwd=root).returncode != 0:
            failed.append(" ".join([name, *rest]))
    if failed:
        print(f"gov lint: failed: {'; '.join(failed)}", file=sys.stderr)
        raise SystemExit(1)
    print("gov lint: clean")


def cmd_k8s(args) -> None:
    from govctl import kustomize

    # an unknown overlay stays exit status 1 (StackError), as tests/unit/test_kustomize.py expects
    sys.stdout.write(kustomize.render(kustomize.directory(args.overlay)))


def cmd_bench(args) -> None:
    root = project_root()
    script = root / "bench" / f"{args.name}_bench.py"
    if not script.exists():
        known = sorted(p.name.removesuffix("_bench.py") for p in (root / "bench").glob("*_bench.py"))
        raise UsageError(
            f"bench: no benchmark {args.name!r} (bench/{script.name}); known: {', '.join(known) or 'none'}"
        )
    r = subprocess.run([sys.executable, str(script), *args.bench_args], cwd=root)
    raise SystemExit(r.returncode)


def cmd_help(args) -> None:
    """./gov help [command [subcommand]]: the usage of gov, or of one of its commands."""
    parser = args.parser
    for i, word in enumerate(args.topic):
        subs = subcommands(parser)
        if word not in subs:
            where = " ".join(["help", *args.topic[:i]])
            raise UsageError(f"{where}: no command {word!r}; choose from {', '.join(subs) or 'none (no subcommands)'}")
        parser = subs[word]
    parser.print_help()


def cmd_install(args) -> None:
    # The ./gov script does the install itself (it needs no Python packages) and never reaches here.
    raise UsageError("install: run ./gov install (the shell script creates .venv; python -m govctl cannot)")


def subcommands(parser: argparse.ArgumentParser) -> dict[str, argparse.ArgumentParser]:
    """The subcommand parsers of `parser`, by name (empty when it has none)."""
    for action in parser._actions:
        if isinstance(action, argparse._SubParsersAction):
            return dict(action.choices)
    return {}


def build_parser() -> Parser:
    """The whole command line; tests/unit/test_cli_help.py walks it to run --help on every command."""
    p = Parser(
        prog="gov",
        description="Changping grid governance: local stack and operations",
        epilog="./gov help <command> [subcommand] (or ./gov <command> --help) prints a command's usage.",
    )
    sub = p.add_subparsers(dest="command", required=True, metavar="command")

    s = sub.add_parser("help", help="print this usage, or a command's: ./gov help dlq redrive")
    s.add_argument("topic", nargs="*", help="a command and its subcommand")
    s.set_defaults(fn=cmd_help)
    s = sub.add_parser(
        "install",
        help="create or update .venv from requirements.lock (./gov does it by itself when the lock changed)",
        description="Create the virtualenv .venv, install requirements.lock into it and put the project's "
        "source trees on its path. The ./gov script does this before any command whenever requirements.lock "
        "changed, except for help.",
    )
    s.set_defaults(fn=cmd_install)
    s = sub.add_parser("up", help="start Kafka, Postgres, migrations, topics, areas, demo data and the five services")
    s.add_argument("--no-demo", action="store_true", help="do not load demo data")
    s.add_argument("--no-services", action="store_true", help="only the infrastructure and migrations")
    s.set_defaults(fn=cmd_up)
    sub.add_parser("down", help="stop everything the stack started").set_defaults(fn=cmd_down)
    sub.add_parser("status", help="what runs where, memory, and where the logs are").set_defaults(fn=cmd_status)
    s = sub.add_parser("logs", help="list the log files, or tail one")
    s.add_argument("component", nargs="?", help="e.g. cases, kafka, postgres (default: list the log files)")
    s.add_argument("-n", "--lines", type=_int_at_least(0, "lines to show, 0 or more"), default=50)
    s.add_argument("-f", "--follow", action="store_true")
    s.set_defaults(fn=cmd_logs)
    sub.add_parser("migrate", help="apply pending migrations of every service").set_defaults(fn=cmd_migrate)
    s = sub.add_parser("token", help="mint a development JWT")
    s.add_argument("--sub", required=True, type=_nonempty, help="the subject, e.g. gm-1")
    s.add_argument("--role", action="append", type=_role, help="repeatable, e.g. --role grid_manager")
    s.add_argument(
        "--area", action="append", type=_area, help="repeatable area scope, e.g. --area changping.kongjiafan"
    )
    s.add_argument("--perm", action="append", help="repeatable permission, e.g. --perm personal_data:read")
    s.add_argument("--ttl", type=_int_at_least(1, "seconds, 1 or more"), default=8 * 3600, help="seconds (default 8 h)")
    s.set_defaults(fn=cmd_token)
    s = sub.add_parser(
        "areas", help="validate or publish an area tree file, or (re)write its demo shapes (GeoJSON, deterministic)"
    )
    s.add_argument("action", choices=["validate", "publish", "shapes"])
    s.add_argument("file", nargs="?", help="default: data/areas/changping.yaml")
    s.add_argument(
        "--bootstrap",
        type=_bootstrap,
        help="publish: Kafka host:port (default: KAFKA_BOOTSTRAP_SERVERS, else the local stack)",
    )
    s.set_defaults(fn=cmd_areas)
    s = sub.add_parser(
        "contracts",
        help="export the events' JSON Schemas and each service's AsyncAPI and OpenAPI, or check the committed ones",
    )
    s.add_argument("action", choices=["export", "check"])
    s.set_defaults(fn=cmd_contracts)
    s = sub.add_parser(
        "reporting",
        help="reporting operations: rebuild the projections from the topics "
        "(into shadow tables, swapped in only when complete)",
    )
    s.add_argument("action", choices=["rebuild"])
    s.set_defaults(fn=cmd_reporting)
    s = sub.add_parser("dlq", help="dead letters: list them, or re-drive them to their original topic")
    dsub = s.add_subparsers(dest="action", required=True, metavar="action")
    d = dsub.add_parser("list", help="print dead letters: reason, origin, consumer group, error, event type and id")
    d.add_argument("--group", help="only those of this consumer group")
    d.add_argument("--reason", help="only those with this dlq_reason, e.g. handler_error")
    d.add_argument(
        "--limit",
        type=_int_at_least(1, "dead letters to show, 1 or more"),
        default=50,
        help="the N most recent (default 50)",
    )
    d.add_argument(
        "--bootstrap", type=_bootstrap, help="Kafka host:port (default: KAFKA_BOOTSTRAP_SERVERS, else the local stack)"
    )
    d.set_defaults(fn=cmd_dlq)
    d = dsub.add_parser("redrive", help="re-publish a group's dead letters to their original topic, once each")
    d.add_argument("--group", required=True, type=_nonempty, help="the consumer group whose dead letters to re-drive")
    d.add_argument(
        "--reason",
        help="only those with this dlq_reason (invalid_envelope, invalid_json and "
        "wrong_topic are refused: never re-driven, nor are truncated dead letters)",
    )
    d.add_argument("--dry-run", action="store_true", help="print what would be re-driven; send nothing")
    d.add_argument(
        "--bootstrap", type=_bootstrap, help="Kafka host:port (default: KAFKA_BOOTSTRAP_SERVERS, else the local stack)"
    )
    d.set_defaults(fn=cmd_dlq)
    s = sub.add_parser(
        "test",
        help="run the test suite (pytest arguments may follow)",
        description="Everything after `test` goes to pytest, e.g. ./gov test -q tests/unit -k areas; "
        "pytest's own options: ./gov test -q --help.",
    )
    s.add_argument("pytest_args", nargs=argparse.REMAINDER)
    s.set_defaults(fn=cmd_test)
    s = sub.add_parser("lint", help="the gate: ruff check, ruff format --check and mypy (non-zero on any finding)")
    s.add_argument("--fix", action="store_true", help="let ruff fix what it can and reformat, then check")
    s.set_defaults(fn=cmd_lint)
    s = sub.add_parser("k8s", help="render deploy/k8s with the pinned Kustomize (kubectl kustomize), no cluster")
    s.add_argument("action", choices=["render"])
    s.add_argument("overlay", nargs="?", default="production", help="base, an overlay's name or a directory")
    s.set_defaults(fn=cmd_k8s)
    s = sub.add_parser(
        "bench",
        help="run a benchmark on its own throwaway stack, e.g. ./gov bench cases",
        description="Everything after the benchmark's name goes to it; its own options: ./gov bench cases --help.",
    )
    s.add_argument("name", help="runs bench/<name>_bench.py: cases, volunteers, reporting, notifications, relay, e2e")
    s.add_argument("bench_args", nargs=argparse.REMAINDER, help="passed on, e.g. --creates 1000")
    s.set_defaults(fn=cmd_bench)
    return p


def main(argv=None) -> None:
    argv = sys.argv[1:] if argv is None else list(argv)
    p = build_parser()
    try:
        if not argv:  # ./gov alone: the usage, as ./gov help
            argv = ["help"]
        if argv[0] == "test" and argv[1:] not in (["-h"], ["--help"]):  # the rest belongs to pytest
            args = argparse.Namespace(fn=cmd_test, pytest_args=argv[1:])
        elif len(argv) > 1 and argv[0] == "bench" and not argv[1].startswith("-"):  # the rest: the benchmark's
            args = argparse.Namespace(fn=cmd_bench, name=argv[1], bench_args=argv[2:])
        else:
            args = p.parse_args(argv)
        args.parser = p
        args.fn(args)
    except UsageError as e:
        print(f"gov: {e}", file=sys.stderr)
        raise SystemExit(2) from None
    except StackError as e:
        print(f"gov: {e}", file=sys.stderr)
        raise SystemExit(1) from None
    except KeyboardInterrupt:
        raise SystemExit(130) from None
