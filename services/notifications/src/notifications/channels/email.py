"""E-mail through an SMTP server, with the standard library's smtplib in a worker thread.

One connection per message: notifications are few, and a connection kept open would need its own liveness
handling across threads. A send that the caller cancels still runs to the end (or to timeout_s) in its thread.
"""

from __future__ import annotations

import asyncio
import smtplib
import ssl
from email.message import EmailMessage
from email.utils import formatdate

from notifications.channels.base import Address, Message, PermanentFailure, TransientFailure
from notifications.channels.settings import SmtpSettings


def email_message(message: Message, sender: str, recipient: str) -> EmailMessage:
    mail = EmailMessage()
    mail["From"] = sender
    mail["To"] = recipient
    mail["Subject"] = message.title
    mail["Date"] = formatdate(usegmt=True)
    mail["Message-ID"] = f"<{message.delivery_id}@notifications.changping>"
    body = message.text
    if message.link and message.link not in body:
        body += f"\n\n{message.link}"
    mail.set_content(body)  # UTF-8, and the subject as an RFC 2047 encoded word
    return mail


def smtp_failure(exc: Exception) -> TransientFailure | PermanentFailure:
    """4xx replies and broken connections are worth another attempt; 5xx replies and refused logins are not.

    Server texts are left out of the reasons: they usually quote the address.
    """
    if isinstance(exc, smtplib.SMTPRecipientsRefused):
        codes = [code for code, _ in exc.recipients.values()]
        code = max(codes, default=550)
        failure = TransientFailure if 400 <= code < 500 else PermanentFailure
        return failure(f"email: recipient refused ({code})")
    if isinstance(exc, smtplib.SMTPResponseException):
        what = "login refused" if isinstance(exc, smtplib.SMTPAuthenticationError) else type(exc).__name__
        failure = TransientFailure if 400 <= exc.smtp_code < 500 else PermanentFailure
        return failure(f"email: {what} ({exc.smtp_code})")
    if isinstance(exc, smtplib.SMTPNotSupportedError):
        return PermanentFailure("email: the server does not support STARTTLS or AUTH as configured")
    if isinstance(exc, ssl.SSLCertVerificationError):
        return PermanentFailure("email: the server's TLS certificate is not trusted")
    # SMTPServerDisconnected, connection refused, timeouts, TLS handshakes cut off
    return TransientFailure(f"email: {type(exc).__name__}")


class SmtpMail:
    name = "email"

    def __init__(self, settings: SmtpSettings):
        self.settings = settings

    def deliver(self, mail: EmailMessage) -> None:
        settings = self.settings
        context = ssl.create_default_context()  # SMTP_SSL's own default would not check the certificate
        smtp = (
            smtplib.SMTP_SSL(settings.host, settings.port, timeout=settings.timeout_s, context=context)
            if settings.ssl
            else smtplib.SMTP(settings.host, settings.port, timeout=settings.timeout_s)
        )
        with smtp:
            if settings.starttls:
                smtp.starttls(context=context)
            if settings.username:
                smtp.login(settings.username, settings.password or "")
            smtp.send_message(mail)  # one recipient: refusing it raises SMTPRecipientsRefused

    async def send(self, message: Message, address: Address) -> str | None:
        try:
            mail = email_message(message, self.settings.sender, address.target)
        except ValueError as exc:  # a line break or other garbage in the address
            raise PermanentFailure("email: not a usable address") from exc
        try:
            await asyncio.to_thread(self.deliver, mail)
        except (smtplib.SMTPException, OSError) as exc:
            raise smtp_failure(exc) from exc
        return str(mail["Message-ID"])

    async def close(self) -> None:
        """Nothing stays open between messages."""
