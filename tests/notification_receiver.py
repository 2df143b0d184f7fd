"""A local HTTP server standing in for the SMS gateway and the WeCom / DingTalk robots in the notifications tests
and benchmark: records every POST with its arrival time and answers by path (a path can be set to fail)."""

from __future__ import annotations

import json
import re
import socket
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import parse_qs, urlsplit

SMS_OK = {"Code": "OK", "BizId": "biz-1"}
ROBOT_OK = {"errcode": 0, "errmsg": "ok"}
LINK = re.compile(r"https?://\S+/a/[A-Za-z0-9_-]+")


@dataclass
class Received:
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: dict[str, Any]
    at: float  # time.time() on arrival

    @property
    def text(self) -> str:
        """The message text, whichever product's format it came in."""
        if "TemplateParam" in self.body:
            return str(json.loads(self.body["TemplateParam"])["text"])
        kind = self.body.get("msgtype")
        if kind == "text":
            return str(self.body["text"]["content"])
        if kind == "markdown":
            md = self.body["markdown"]
            return str(md.get("content") or md.get("text"))
        return json.dumps(self.body, ensure_ascii=False)


class _Server(ThreadingHTTPServer):
    request_queue_size = 128  # a burst of connections must not meet the default backlog of 5
    daemon_threads = True


@dataclass
class Receiver:
    port: int = 0
    received: list[Received] = field(default_factory=list)
    failing: dict[str, int] = field(default_factory=dict)  # path -> HTTP status answered
    lock: threading.Lock = field(default_factory=threading.Lock)
    server: ThreadingHTTPServer | None = None

    def url(self, path: str) -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def at(self, path: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.path == path]

    def sms_to(self, phone: str) -> list[Received]:
        with self.lock:
            return [r for r in self.received if r.body.get("PhoneNumbers") == phone]

    def start(self) -> Receiver:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"
            disable_nagle_algorithm = True  # else each keep-alive answer waits ~40 ms for a delayed ACK

            def do_POST(self) -> None:
                raw = self.rfile.read(int(self.headers.get("Content-Length", "0")))
                parts = urlsplit(self.path)
                rec = Received(
                    parts.path, parse_qs(parts.query), dict(self.headers.items()), json.loads(raw or b"{}"), time.time()
                )
                with receiver.lock:
                    receiver.received.append(rec)
                    status = receiver.failing.get(parts.path, 200)
                answer = SMS_OK if "PhoneNumbers" in rec.body else ROBOT_OK
                body = json.dumps(answer if status == 200 else {"error": "down"}).encode()
                self.send_response(status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        with socket.socket() as sock:
            sock.bind(("127.0.0.1", 0))
            self.port = sock.getsockname()[1]
        self.server = _Server(("127.0.0.1", self.port), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return self

    def stop(self) -> None:
        if self.server:
            self.server.shutdown()
            self.server.server_close()
