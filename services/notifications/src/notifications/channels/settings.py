"""Configuration of the channels that need some: the SMS gateway and the SMTP server."""

from __future__ import annotations

from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

EMAIL_ADDRESS = r"^[^@\s<>\"]+@[^@\s<>\"]+\.[^@\s<>\".]+$"


class SmsSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    url: str
    access_key_id: str = Field(min_length=1)
    access_key_secret: str = Field(min_length=1, repr=False)  # repr=False: kept out of logs and error reports
    sign_name: str = Field(min_length=1)
    template_code: str = Field(min_length=1)
    timeout_s: float = Field(default=5, gt=0, le=60)

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            raise ValueError("must be an http(s):// URL")
        return value


class SmtpSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    host: str = Field(min_length=1)
    port: int = Field(ge=1, le=65535)
    username: str | None = None
    password: str | None = Field(default=None, repr=False)
    sender: str = Field(pattern=EMAIL_ADDRESS)
    starttls: bool = False
    ssl: bool = False  # implicit TLS (port 465); starttls upgrades a plain connection (port 587)
    timeout_s: float = Field(default=10, gt=0, le=120)

    @model_validator(mode="after")
    def _consistent(self) -> SmtpSettings:
        if self.starttls and self.ssl:
            raise ValueError("starttls and ssl exclude each other: ssl for port 465, starttls for 587")
        if self.password and not self.username:
            raise ValueError("a password needs a username")
        return self
