"""The channels and senders of a running service, made from its configuration."""

from __future__ import annotations

import httpx

from govkit.settings import ServiceSettings
from notifications.channels.base import Address, Channel, Message, PermanentFailure
from notifications.channels.email import SmtpMail
from notifications.channels.log import LogChannel
from notifications.channels.settings import SmsSettings, SmtpSettings
from notifications.channels.sms import SmsGateway
from notifications.channels.webhooks import DingTalkRobot, WeComRobot
from notifications.config import NotificationsConfig
from notifications.contacts import VolunteerContacts
from notifications.context import Context
from notifications.sender import ChannelSender, Senders


class NotConfigured:
    """A channel with no provider in production: its deliveries are logged failed, saying what to configure."""

    def __init__(self, name: str, variable: str):
        self.name, self.variable = name, variable

    async def send(self, message: Message, address: Address) -> str | None:
        raise PermanentFailure(f"{self.name} is not configured (set {self.variable})")

    async def close(self) -> None:
        return None


def channels(cfg: NotificationsConfig, client: httpx.AsyncClient) -> dict[str, Channel | None]:
    """Every channel by name; None is the in-app inbox (this service's own table). Without a provider, SMS and
    e-mail go to the log in development (a newcomer sees them in ./gov logs notifications)."""
    sms: Channel
    if cfg.sms_url:
        sms = SmsGateway(
            client,
            SmsSettings(
                url=cfg.sms_url,
                access_key_id=cfg.sms_key_id,
                access_key_secret=cfg.sms_key_secret,
                sign_name=cfg.sms_sign_name,
                template_code=cfg.sms_template,
            ),
        )
    else:
        sms = LogChannel() if cfg.development else NotConfigured("sms", "NOTIFICATIONS_SMS_URL")
    email: Channel
    if cfg.smtp_host:
        email = SmtpMail(
            SmtpSettings(
                host=cfg.smtp_host,
                port=cfg.smtp_port,
                username=cfg.smtp_user or None,
                password=cfg.smtp_password or None,
                sender=cfg.smtp_sender,
                starttls=cfg.smtp_starttls,
            )
        )
    else:
        email = LogChannel() if cfg.development else NotConfigured("email", "NOTIFICATIONS_SMTP_HOST")
    return {"in_app": None, "sms": sms, "email": email, "wecom": WeComRobot(client), "dingtalk": DingTalkRobot(client)}


def senders(ctx: Context, s: ServiceSettings, client: httpx.AsyncClient) -> Senders:
    cfg = ctx.config
    contacts = VolunteerContacts.from_config(client, cfg, s)
    limits = ctx.config.loaded.channels
    return Senders(
        ctx,
        [ChannelSender(name, channel, limits[name], ctx, contacts) for name, channel in channels(cfg, client).items()],
    )
