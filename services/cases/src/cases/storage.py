"""Where attachment bytes are kept: a small interface, `put` and `get`, with two implementations:
the `case_attachment_blobs` table of the cases schema (the default; CASES_STORAGE=postgres) and an
S3-compatible bucket (CASES_STORAGE=s3 with CASES_S3_*), signed with AWS Signature V4 by hand."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime
from typing import Protocol
from urllib.parse import quote, urlsplit

import asyncpg
import httpx

PUT_BLOB = """
insert into case_attachment_blobs (key, content_type, data) values ($1, $2, $3)
on conflict (key) do nothing
"""
GET_BLOB = "select content_type, data from case_attachment_blobs where key = $1"


class Storage(Protocol):
    async def put(self, key: str, data: bytes, content_type: str) -> None: ...

    async def get(self, key: str) -> tuple[bytes, str] | None:
        """(bytes, content type), or None when nothing is stored under the key."""
        ...


class PostgresStorage:
    """Blobs in the cases schema (bytea): backed up and migrated with the cases they belong to."""

    def __init__(self, pool: asyncpg.Pool) -> None:
        self.pool = pool

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        async with self.pool.acquire() as con:
            await con.execute(PUT_BLOB, key, content_type, data)

    async def get(self, key: str) -> tuple[bytes, str] | None:
        async with self.pool.acquire() as con:
            row = await con.fetchrow(GET_BLOB, key)
        return (bytes(row["data"]), row["content_type"]) if row else None


# -- S3-compatible (CASES_STORAGE=s3) -----------------------------------------------------------------------------


def _hmac(key: bytes, msg: str) -> bytes:
    return hmac.new(key, msg.encode(), hashlib.sha256).digest()


def sigv4_authorization(
    method: str,
    path: str,
    headers: dict[str, str],
    *,
    access_key: str,
    secret_key: str,
    region: str,
    amz_date: str,
    service: str = "s3",
    query: str = "",
) -> str:
    """The Authorization header of AWS Signature Version 4 for a request whose `headers` (host,
    x-amz-date, x-amz-content-sha256 and any other to be signed) are all signed; `path` URI-encoded."""
    signed = sorted(headers, key=str.lower)
    canonical_headers = "".join(f"{h.lower()}:{' '.join(headers[h].strip().split())}\n" for h in signed)
    signed_headers = ";".join(h.lower() for h in signed)
    payload_hash = next(v for h, v in headers.items() if h.lower() == "x-amz-content-sha256")
    canonical = "\n".join([method, path, query, canonical_headers, signed_headers, payload_hash])
    date = amz_date[:8]
    scope = f"{date}/{region}/{service}/aws4_request"
    to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical.encode()).hexdigest()])
    key = _hmac(_hmac(_hmac(_hmac(f"AWS4{secret_key}".encode(), date), region), service), "aws4_request")
    signature = hmac.new(key, to_sign.encode(), hashlib.sha256).hexdigest()
    return f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"


class S3Storage:
    """Objects in a bucket of an S3-compatible store (AWS S3, MinIO, Ceph RGW, OSS/COS in S3 mode), path-style
    (`{endpoint}/{bucket}/{key}`), signed with AWS Signature V4."""

    def __init__(
        self,
        endpoint: str,
        bucket: str,
        access_key: str,
        secret_key: str,
        region: str = "us-east-1",
        client: httpx.AsyncClient | None = None,
    ) -> None:
        self.endpoint, self.bucket = endpoint.rstrip("/"), bucket
        self.access_key, self.secret_key, self.region = access_key, secret_key, region
        self.host = urlsplit(self.endpoint).netloc
        self.base_path = urlsplit(self.endpoint).path
        self.client = client or httpx.AsyncClient(timeout=30)

    def _signed(self, method: str, key: str, body: bytes, extra: dict[str, str]) -> tuple[str, dict[str, str]]:
        path = f"{self.base_path}/{quote(self.bucket, safe='')}/{quote(key, safe='/')}"
        headers = {
            "host": self.host,
            "x-amz-content-sha256": hashlib.sha256(body).hexdigest(),
            "x-amz-date": datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ"),
            **extra,
        }
        headers["authorization"] = sigv4_authorization(
            method,
            path,
            headers,
            access_key=self.access_key,
            secret_key=self.secret_key,
            region=self.region,
            amz_date=headers["x-amz-date"],
        )
        return urlsplit(self.endpoint)._replace(path=path).geturl(), headers

    async def put(self, key: str, data: bytes, content_type: str) -> None:
        url, headers = self._signed("PUT", key, data, {"content-type": content_type})
        r = await self.client.put(url, content=data, headers=headers)
        if r.status_code >= 300:
            raise StorageError(f"S3 PUT {key}: HTTP {r.status_code} {r.text[:200]}")

    async def get(self, key: str) -> tuple[bytes, str] | None:
        url, headers = self._signed("GET", key, b"", {})
        r = await self.client.get(url, headers=headers)
        if r.status_code == 404:
            return None
        if r.status_code >= 300:
            raise StorageError(f"S3 GET {key}: HTTP {r.status_code} {r.text[:200]}")
        return r.content, r.headers.get("content-type", "application/octet-stream")

    async def aclose(self) -> None:
        await self.client.aclose()


class StorageError(RuntimeError):
    """The store refused or failed a request (a 500 to the caller, with a trace id)."""
