"""The local stack: Kafka, PostgreSQL, migrations, topics, areas and the three
services, with its state (ports, pids, passwords) in <home>/stack.json.

`./gov up` uses <project>/.local; the test suite makes a throwaway one.
"""

from __future__ import annotations

import asyncio
import json
import os
import secrets
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from govctl import kafka, postgres, procs
from govctl.errors import StackError
from govctl.ports import free_port, is_free

SERVICES = postgres.SERVICES


def project_root() -> Path:
    return Path(os.environ.get("GOV_ROOT") or Path(__file__).resolve().parents[4])


@dataclass
class Stack:
    home: Path
    root: Path = field(default_factory=project_root)
    partitions: int = 12
    kafka_heap_mb: int = 512
    external_pg: str | None = None  # admin DSN of an external server
    state: dict = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.home = Path(self.home).resolve()
        self.home.mkdir(parents=True, exist_ok=True)
        self.kafka_lib = Path(os.environ.get("GOV_KAFKA_LIB", self.root / ".local" / "kafka-lib"))
        self._load()

    # state ---------------------------------------------------------------
    @property
    def state_file(self) -> Path:
        return self.home / "stack.json"

    def _load(self) -> None:
        if self.state_file.exists():
            self.state = json.loads(self.state_file.read_text())
        st = self.state
        passwords = st.setdefault("passwords", {})
        for name in ("postgres", *SERVICES):  # a service added since the stack was made gets its password too
            passwords.setdefault(name, secrets.token_urlsafe(18))
        st.setdefault("jwt_secret", secrets.token_urlsafe(36))
        st.setdefault("open311_api_key", "dev-" + secrets.token_hex(8))  # the local stack's Open311 client key
        st.setdefault("kafka", {})
        st.setdefault("postgres", {})
        st.setdefault("services", {})
        if self.external_pg:
            st["postgres"]["external"] = self.external_pg

    def save(self) -> None:
        self.state_file.write_text(json.dumps(self.state, indent=2))
        self.state_file.chmod(0o600)

    @property
    def logs(self) -> Path:
        return self.home / "logs"

    def _port(self, section: dict, key: str) -> int:
        p = section.get(key)
        if not p or not is_free(p):
            p = free_port()
            section[key] = p
        return p

    def _service_port(self, svc: str) -> int:
        """A running service keeps its port; otherwise reuse the last one if free."""
        s = self.state["services"].setdefault(svc, {})
        if procs.alive(s.get("pid")) and s.get("port"):
            return s["port"]
        return self._port(s, "port")

    # addresses -----------------------------------------------------------
    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.state['kafka']['port']}"

    @property
    def admin_dsn(self) -> str:
        ext = self.state["postgres"].get("external")
        if ext:
            return ext
        return postgres.dsn(
            user="postgres",
            password=self.state["passwords"]["postgres"],
            host="127.0.0.1",
            port=self.state["postgres"]["port"],
            database="postgres",
        )

    def service_dsn(self, svc: str) -> str:
        ext = self.state["postgres"].get("external")
        if ext:
            host, port = postgres.server_of(ext)
            return postgres.dsn(user=svc, password=self.state["passwords"][svc], host=host, port=port)
        return postgres.dsn(
            user=svc, password=self.state["passwords"][svc], host="127.0.0.1", port=self.state["postgres"]["port"]
        )

    def service_env(self, svc: str) -> dict[str, str]:
        S = svc.upper()
        return {
            "GOV_ENV": "development",
            f"{S}_DATABASE_URL": self.service_dsn(svc),
            "KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            f"{S}_HTTP_HOST": "127.0.0.1",
            f"{S}_HTTP_PORT": str(self.state["services"][svc]["port"]),
            "JWT_SECRET": self.state["jwt_secret"],
            "LOG_LEVEL": os.environ.get("LOG_LEVEL", "INFO"),
            "OUTBOX_POLL_INTERVAL_S": "0.5",
            # Open311 creation is closed without a key; locally one is made up (a set variable wins)
            **(
                {"CASES_OPEN311_API_KEYS": os.environ.get("CASES_OPEN311_API_KEYS") or self.state["open311_api_key"]}
                if svc == "cases"
                else {}
            ),
            **(self._notifications_env() if svc == "notifications" else {}),
        }

    def _notifications_env(self) -> dict[str, str]:
        """Where the notifications service finds the volunteers' contact lookup and the report pages; the
        channels are the log (a set variable wins: tests point them at local receivers)."""
        services = self.state["services"]
        env = {
            "NOTIFICATIONS_VOLUNTEERS_URL": f"http://127.0.0.1:{services.get('volunteers', {}).get('port', 0)}",
            "NOTIFICATIONS_REPORT_URL": f"http://127.0.0.1:{services.get('reporting', {}).get('port', 0)}",
        }
        return {k: os.environ.get(k) or v for k, v in env.items()}

    def url(self, svc: str) -> str:
        return f"http://127.0.0.1:{self.state['services'][svc]['port']}"

    # postgres ------------------------------------------------------------
    def up_postgres(self, say=print) -> None:
        pg = self.state["postgres"]
        if not pg.get("external"):
            home = self.home / "pg"
            running = postgres.is_running(home)
            if running is None:
                if postgres.init(home, self.state["passwords"]["postgres"]):
                    say(f"postgres: initialised {home / 'data'}")
                port = self._port(pg, "port")
                self.save()
                pg["pid"] = postgres.start(home, port)
                say(f"postgres: listening on 127.0.0.1:{port} (log: {home / 'postgres.log'})")
            else:
                pg["pid"] = running
                say(f"postgres: already running on 127.0.0.1:{pg['port']}")
        self.save()
        asyncio.run(postgres.wait_connect(self.admin_dsn))
        asyncio.run(postgres.bootstrap(self.admin_dsn, self.state["passwords"]))

    def down_postgres(self) -> None:
        if not self.state["postgres"].get("external"):
            postgres.stop(self.home / "pg")

    # kafka ---------------------------------------------------------------
    def up_kafka(self, say=print) -> None:
        kafka.check_tools()
        if kafka.ensure_jars(self.root, self.kafka_lib):
            say(f"kafka: jars copied by Maven into {self.kafka_lib}")
        k = self.state["kafka"]
        home = self.home / "kafka"
        home.mkdir(parents=True, exist_ok=True)
        log = self.logs / "kafka.log"
        if procs.alive(k.get("pid")):
            say(f"kafka: already running on {self.bootstrap}")
        else:
            port = self._port(k, "port")
            cport = self._port(k, "controller_port")
            cfg = kafka.write_config(self.root, home, port=port, controller_port=cport, partitions=self.partitions)
            kafka.format_storage(self.kafka_lib, cfg, home / "data")
            k["pid"] = kafka.start(self.root, self.kafka_lib, cfg, log, self.kafka_heap_mb)
            self.save()
            kafka.wait_ready(self.bootstrap, port, k["pid"], log)
            say(f"kafka: listening on {self.bootstrap} (log: {log})")
        created = asyncio.run(kafka.create_topics(self.bootstrap, self.partitions))
        if created:
            say(f"kafka: created topics {', '.join(created)}")
        self.save()

    def stop_kafka(self) -> None:
        procs.stop(self.state["kafka"].get("pid"), timeout=30)
        self.state["kafka"]["pid"] = None
        self.save()

    def start_kafka(self) -> None:
        """Start Kafka again on the same ports (used by the broker-outage test)."""
        k = self.state["kafka"]
        cfg = self.home / "kafka" / "server.properties"
        k["pid"] = kafka.start(self.root, self.kafka_lib, cfg, self.logs / "kafka.log", self.kafka_heap_mb)
        self.save()
        kafka.wait_ready(self.bootstrap, k["port"], k["pid"], self.logs / "kafka.log")

    # services ------------------------------------------------------------
    def migrate(self, say=print) -> None:
        from govkit.migrate import MigrationError
        from govkit.service import run_migrations
        from govkit.settings import load

        for svc in SERVICES:
            self._service_port(svc)
            spec = _spec(svc)
            try:
                done = asyncio.run(run_migrations(spec, load(svc, self.service_env(svc))))
            except MigrationError as e:
                raise StackError(f"{svc}: {e}") from None
            say(f"{svc}: {len(done)} migration(s) applied" if done else f"{svc}: schema up to date")
        self.save()

    def start_services(self, say=print, wait: bool = True) -> None:
        for svc in SERVICES:
            s = self.state["services"].setdefault(svc, {})
            if procs.alive(s.get("pid")):
                continue
            self._service_port(svc)
            env = {**os.environ, **self.service_env(svc)}
            s["pid"] = procs.spawn(
                [sys.executable, "-m", svc, "serve"], log=self.logs / f"{svc}.log", env=env, cwd=self.root
            )
        self.save()
        if wait:
            for svc in SERVICES:
                self.wait_ready(svc)
                say(f"{svc}: ready at {self.url(svc)} (log: {self.logs / (svc + '.log')})")
                if svc == "cases":
                    say(f"cases: Open311 api_key for local clients: {self.service_env(svc)['CASES_OPEN311_API_KEYS']}")

    def wait_ready(self, svc: str, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        last = ""
        pid = self.state["services"][svc]["pid"]
        while time.monotonic() < deadline:
            if not procs.alive(pid):
                raise StackError(f"{svc} exited during start-up; see {self.logs / (svc + '.log')}")
            try:
                r = httpx.get(self.url(svc) + "/readyz", timeout=3)
                if r.status_code == 200:
                    return
                last = r.text[:200]
            except httpx.HTTPError as e:
                last = str(e)
            time.sleep(0.3)
        raise StackError(f"{svc} not ready within {timeout:.0f}s ({last}); see {self.logs / (svc + '.log')}")

    def stop_services(self) -> None:
        for svc in SERVICES:
            s = self.state["services"].get(svc, {})
            procs.stop(s.get("pid"), timeout=25)
            s["pid"] = None
        self.save()

    # whole stack ---------------------------------------------------------
    def up(self, *, services: bool = True, demo: bool = True, say=print) -> None:
        kafka.check_tools()
        self.up_postgres(say)
        self.up_kafka(say)
        self.migrate(say)
        if demo:
            from govctl import areas as area_file

            n = area_file.publish(self.bootstrap, area_file.DEFAULT_FILE)
            say(f"areas: published {n} areas from {area_file.DEFAULT_FILE.relative_to(self.root)}")
        if services:
            self.start_services(say)
            if demo:
                self.load_demo(say)

    def load_demo(self, say=print) -> None:
        from govctl import demo

        # volunteers first, so the field work of the dispatched demo cases finds people to offer it to
        self.wait_areas("volunteers", 137)
        v, s, p = demo.load_volunteers(self.url("volunteers"), self.state["jwt_secret"])
        say(f"demo: 20 volunteers ({v} new), a weekday meal schedule ({s} new), 2 pairings ({p} new)")
        self.wait_areas("notifications", 137)
        staff, duties = demo.load_notifications(self.url("notifications"), self.state["jwt_secret"])
        say(
            f"demo: {len(demo.STAFF)} staff ({staff} new) and {duties} on-duty days for the notifications service; "
            "without an SMS gateway or SMTP server its messages go to its log: ./gov logs notifications"
        )
        self.wait_areas("cases", 137)
        n = demo.load_cases(self.url("cases"), self.state["jwt_secret"])
        say(
            f"demo: {len(demo.CASES)} cases in various states, among them extended, suspended, returned, supervised "
            f"and a 12345 ticket called back ({n} new)"
        )
        demand = demo.publish_demand(self.url("reporting"), self.state["jwt_secret"])
        if demand:
            say(f"demo: this week's livelihood demand of {len(demand)} villages published (the proposals' evidence)")
        self.wait_areas("livelihood", 137)
        made = demo.load_livelihood(self.url("livelihood"), self.state["jwt_secret"])
        say(f"demo: {len(demo.PROPOSALS)} livelihood proposals (民生实事) in 孔家畈村 and 钟鼓坪村 ({made} new)")
        path = demo.save_report(self.url("reporting"), self.state["jwt_secret"], self.home / "reports")
        if path:
            say(f"demo: this week's risk assessment of the town: {path}")

    def wait_areas(self, svc: str, count: int, timeout: float = 60) -> None:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                if httpx.get(self.url(svc) + "/v1/areas", timeout=5).json()["count"] >= count:
                    return
            except (httpx.HTTPError, KeyError, ValueError):
                pass
            time.sleep(0.3)
        raise StackError(f"{svc} did not receive the area tree within {timeout:.0f}s; see {self.logs / (svc + '.log')}")

    def down(self) -> None:
        self.stop_services()
        self.stop_kafka()
        self.down_postgres()

    def status(self) -> list[tuple[str, str, str, str]]:
        rows = []
        pg = self.state["postgres"]
        if pg.get("external"):
            rows.append(("postgres", "external", pg["external"].split("@")[-1], "-"))
        else:
            pid = postgres.is_running(self.home / "pg")
            rows.append(
                (
                    "postgres",
                    "running" if pid else "stopped",
                    f"127.0.0.1:{pg.get('port', '-')}",
                    str(self.home / "pg" / "postgres.log"),
                )
            )
        k = self.state["kafka"]
        rows.append(
            (
                "kafka",
                "running" if procs.alive(k.get("pid")) else "stopped",
                f"127.0.0.1:{k.get('port', '-')}",
                str(self.logs / "kafka.log"),
            )
        )
        for svc in SERVICES:
            s = self.state["services"].get(svc, {})
            rows.append(
                (
                    svc,
                    "running" if procs.alive(s.get("pid")) else "stopped",
                    f"http://127.0.0.1:{s.get('port', '-')}",
                    str(self.logs / f"{svc}.log"),
                )
            )
        return rows

    def memory(self) -> dict[str, float | None]:
        out = {
            "postgres": procs.rss_mb(postgres.is_running(self.home / "pg")),
            "kafka": procs.rss_mb(self.state["kafka"].get("pid")),
        }
        for svc in SERVICES:
            out[svc] = procs.rss_mb(self.state["services"].get(svc, {}).get("pid"))
        return out


def _spec(svc: str):
    import importlib

    return importlib.import_module(f"{svc}.app").SPEC
