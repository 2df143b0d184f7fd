"""TLS to PostgreSQL from libpq's PGSSLMODE and PGSSLROOTCERT, as asyncpg's `ssl=` argument."""

from __future__ import annotations

import os
import ssl
from collections.abc import Mapping
from pathlib import Path
from typing import Literal, TypeAlias, cast, get_args

SslMode: TypeAlias = Literal["disable", "allow", "prefer", "require", "verify-ca", "verify-full"]
MODES: tuple[str, ...] = get_args(SslMode)


def ssl_option(mode: str | None, rootcert: str | None) -> SslMode | ssl.SSLContext | None:
    """None leaves TLS to the DSN's sslmode parameter and asyncpg's default (prefer); ValueError names the
    variable to fix."""
    if rootcert and not Path(rootcert).is_file():
        raise ValueError(f"PGSSLROOTCERT: {rootcert}: no such file")
    if mode is None:
        if rootcert:
            raise ValueError("PGSSLMODE: set verify-full (or verify-ca) to check the server against PGSSLROOTCERT")
        return None
    if mode not in MODES:
        raise ValueError(f"PGSSLMODE: {mode!r}: give one of {', '.join(MODES)}")
    # libpq verifies the server's certificate under require too when a root certificate is given
    if mode in ("verify-ca", "verify-full") or (mode == "require" and rootcert):
        try:
            context = ssl.create_default_context(cafile=rootcert)  # no file: the system's trusted roots
        except ssl.SSLError as e:
            raise ValueError(f"PGSSLROOTCERT: {rootcert}: not a PEM certificate ({e})") from None
        context.check_hostname = mode == "verify-full"
        return context
    if rootcert:
        raise ValueError(f"PGSSLROOTCERT: not used with PGSSLMODE={mode}; set verify-full or verify-ca")
    return cast(SslMode, mode)


def from_env(environ: Mapping[str, str] | None = None) -> SslMode | ssl.SSLContext | None:
    env = os.environ if environ is None else environ
    return ssl_option(env.get("PGSSLMODE") or None, env.get("PGSSLROOTCERT") or None)
