"""The S3-compatible attachment store against a small local HTTP server standing in for the bucket:
each request carries a well-formed AWS Signature V4 Authorization header that the server checks
with its own computation, objects are stored with their content type and come back; a wrong
secret is refused and an absent object is None."""

from __future__ import annotations

import asyncio
import hashlib
import hmac
import re
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from cases.storage import S3Storage, StorageError

ACCESS, SECRET, REGION, BUCKET = "AKIDEXAMPLE", "s3cr3t/Example+Key", "cn-central-1", "case-files"
AUTH = re.compile(
    r"^AWS4-HMAC-SHA256 Credential=(?P<ak>[^/]+)/(?P<date>\d{8})/(?P<region>[^/]+)/s3/aws4_request, "
    r"SignedHeaders=(?P<signed>[a-z0-9;-]+), Signature=(?P<sig>[0-9a-f]{64})$"
)


def expected_signature(method: str, path: str, headers: dict[str, str], signed: list[str], date: str) -> str:
    """The server's own reading of Signature V4 (the AWS documentation's steps)."""
    canonical_headers = "".join(f"{h}:{headers[h].strip()}\n" for h in signed)
    canonical = "\n".join([method, path, "", canonical_headers, ";".join(signed), headers["x-amz-content-sha256"]])
    scope = f"{date}/{REGION}/s3/aws4_request"
    to_sign = f"AWS4-HMAC-SHA256\n{headers['x-amz-date']}\n{scope}\n{hashlib.sha256(canonical.encode()).hexdigest()}"
    key = ("AWS4" + SECRET).encode()
    for part in (date, REGION, "s3", "aws4_request"):
        key = hmac.new(key, part.encode(), hashlib.sha256).digest()
    return hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()


class Bucket(BaseHTTPRequestHandler):
    objects: dict[str, tuple[bytes, str]] = {}
    seen: list[str] = []

    def log_message(self, *args) -> None:  # quiet
        pass

    def _check(self, body: bytes) -> bool:
        headers = {k.lower(): v for k, v in self.headers.items()}
        auth = AUTH.match(headers.get("authorization", ""))
        if not auth or auth["ak"] != ACCESS or auth["region"] != REGION:
            return False
        signed = auth["signed"].split(";")
        if not {"host", "x-amz-date", "x-amz-content-sha256"} <= set(signed) or signed != sorted(signed):
            return False
        if headers["x-amz-content-sha256"] != hashlib.sha256(body).hexdigest():
            return False
        if headers["x-amz-date"][:8] != auth["date"]:
            return False
        self.seen.append(headers["authorization"])
        return hmac.compare_digest(
            auth["sig"], expected_signature(self.command, self.path, headers, signed, auth["date"])
        )

    def _answer(self, status: int, body: bytes = b"", ctype: str = "application/xml") -> None:
        self.send_response(status)
        self.send_header("content-type", ctype)
        self.send_header("content-length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_PUT(self) -> None:
        body = self.rfile.read(int(self.headers.get("content-length", 0)))
        if not self._check(body):
            return self._answer(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
        self.objects[self.path] = (body, self.headers["content-type"])
        self._answer(200)

    def do_GET(self) -> None:
        if not self._check(b""):
            return self._answer(403, b"<Error><Code>SignatureDoesNotMatch</Code></Error>")
        if self.path not in self.objects:
            return self._answer(404, b"<Error><Code>NoSuchKey</Code></Error>")
        data, ctype = self.objects[self.path]
        self._answer(200, data, ctype)


@pytest.fixture
def endpoint() -> Iterator[str]:
    Bucket.objects, Bucket.seen = {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Bucket)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()


def test_put_and_get_an_object_with_signed_requests(endpoint):
    async def run():
        store = S3Storage(endpoint, BUCKET, ACCESS, SECRET, REGION)
        try:
            await store.put("cases/abc/def", b"\xff\xd8\xff jpeg bytes", "image/jpeg")
            got = await store.get("cases/abc/def")
            missing = await store.get("cases/abc/nothing")
        finally:
            await store.aclose()
        return got, missing

    got, missing = asyncio.run(run())
    assert got == (b"\xff\xd8\xff jpeg bytes", "image/jpeg")
    assert missing is None
    assert list(Bucket.objects) == [f"/{BUCKET}/cases/abc/def"]
    assert len(Bucket.seen) == 3
    assert all("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date" in a for a in Bucket.seen[:1])


def test_a_wrong_secret_is_refused(endpoint):
    async def run():
        store = S3Storage(endpoint, BUCKET, ACCESS, "not-the-secret", REGION)
        try:
            await store.put("cases/x", b"data", "application/pdf")
        finally:
            await store.aclose()

    with pytest.raises(StorageError, match="HTTP 403"):
        asyncio.run(run())
    assert Bucket.objects == {}
