"""The S3-compatible attachment store's request signing (AWS Signature V4, written with hmac/hashlib)
against AWS's own worked example, and the settings CASES_STORAGE=s3 needs."""

from __future__ import annotations

from typing import Any, cast

import pytest

from cases import app, config
from cases.storage import PostgresStorage, S3Storage, sigv4_authorization
from govkit.settings import ConfigError, load


def test_the_signature_of_awss_get_object_example():
    # docs.aws.amazon.com/AmazonS3/latest/API/sig-v4-header-based-auth.html, "Example: GET Object"
    headers = {
        "Host": "examplebucket.s3.amazonaws.com",
        "Range": "bytes=0-9",
        "x-amz-content-sha256": "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "x-amz-date": "20130524T000000Z",
    }
    auth = sigv4_authorization(
        "GET",
        "/test.txt",
        headers,
        access_key="AKIAIOSFODNN7EXAMPLE",
        secret_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY",
        region="us-east-1",
        amz_date="20130524T000000Z",
    )
    assert auth == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request, "
        "SignedHeaders=host;range;x-amz-content-sha256;x-amz-date, "
        "Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


BASE = {
    "CASES_DATABASE_URL": "postgresql://cases:x@127.0.0.1:5432/gov",
    "KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:9092",
}


def _configure(**env: str):
    environ = {**BASE, **env}
    return config.configure(load("cases", environ), environ)


def test_postgres_is_the_default_store():
    cfg = _configure()
    assert (cfg.storage, cfg.attachment_max_bytes, cfg.attachment_max_files) == ("postgres", 10 * 1024 * 1024, 5)


def test_s3_needs_its_endpoint_bucket_and_keys():
    s3 = {
        "CASES_STORAGE": "s3",
        "CASES_S3_ENDPOINT": "http://127.0.0.1:9000",
        "CASES_S3_BUCKET": "case-files",
        "CASES_S3_ACCESS_KEY": "ak",
        "CASES_S3_SECRET_KEY": "sk",
    }
    cfg = _configure(**s3)
    assert cfg.s3_bucket == "case-files"
    store = app.storage(cfg, None)
    assert isinstance(store, S3Storage) and (store.host, store.bucket) == ("127.0.0.1:9000", "case-files")
    assert isinstance(app.storage(_configure(), cast(Any, "a pool")), PostgresStorage)
    with pytest.raises(ConfigError, match="CASES_S3_SECRET_KEY: required with CASES_STORAGE=s3"):
        _configure(**{**s3, "CASES_S3_SECRET_KEY": ""})
    with pytest.raises(ConfigError, match="CASES_S3_ENDPOINT: an http"):
        _configure(**{**s3, "CASES_S3_ENDPOINT": "minio:9000"})
    with pytest.raises(ConfigError, match="CASES_STORAGE"):
        _configure(CASES_STORAGE="ftp")
