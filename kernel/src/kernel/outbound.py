"""Outbound communication: an outbox of tasks, each passing the contact guard at send time.

A service queues a task (e-mail, SMS, push, post or phone) in its ``comm_outbox`` table in
the same transaction as the change that causes it; the message is sealed with the
subject's key. :class:`Dispatcher` sends due tasks, asking the guard again at that
moment (CNS-7), so a message queued before a withdrawal is not sent after it. Marketing
messages carry their one-click unsubscribe link (CNS-4). Transactional messages (purpose
``service_messages``) use the same path and need no marketing consent.

The embedded default sender is a mail catcher writing one file per message under the
stack's data directory; :class:`SmtpSender` plugs in from settings.
"""

from __future__ import annotations

import asyncio
import re
import shutil
import smtplib
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from pathlib import Path
from typing import Literal, Protocol
from uuid import UUID, uuid4

import asyncpg
import orjson
from pydantic import Field
from pydantic_settings import BaseSettings, SettingsConfigDict

from kernel.crypto import BlindIndex
from kernel.guard import ContactGuard, guard_of
from kernel.keystore import KeyStore
from kernel.logs import get_logger
from kernel.service import Migration, Runtime
from kernel.unsubscribe import unsubscribe_token

log = get_logger(__name__)


class OutboundSettings(BaseSettings):
    """Where messages go (``MARKET_*``)."""

    model_config = SettingsConfigDict(env_prefix="MARKET_")

    data_dir: Path = Field(Path(".stack"), description="The stack's data directory.")
    sender: Literal["mailcatcher", "smtp"] = Field(
        "mailcatcher", description="mailcatcher (files under data_dir/mail) or smtp.")
    smtp_host: str = Field("127.0.0.1", description="SMTP relay host.")
    smtp_port: int = Field(25, description="SMTP relay port.")
    mail_from: str = Field("no-reply@secondjob.example", description="Sender address.")
    public_url: str = Field("http://127.0.0.1:8000", description="Gateway URL in links.")

    @property
    def mail_dir(self) -> Path:
        """The mail catcher's directory."""
        return self.data_dir / "mail"


def outbound_ddl(schema: str) -> str:
    """The outbox of communication tasks in a service's schema (idempotent)."""
    return f"""
CREATE TABLE IF NOT EXISTS {schema}.comm_outbox (
    task_id    uuid PRIMARY KEY,
    subject_id text        NOT NULL,
    purpose    text        NOT NULL,
    channel    text        NOT NULL,
    message    text        NOT NULL,
    status     text        NOT NULL DEFAULT 'queued',
    reason     text,
    queued_at  timestamptz NOT NULL DEFAULT now(),
    send_after timestamptz NOT NULL DEFAULT now(),
    done_at    timestamptz
);
CREATE INDEX IF NOT EXISTS comm_outbox_queued_idx ON {schema}.comm_outbox (send_after)
    WHERE status = 'queued';
COMMENT ON TABLE {schema}.comm_outbox IS
  'Outbound communication tasks (CNS-7); message sealed with the subject key; erased with it.';
"""


@dataclass(frozen=True)
class Message:
    """A message as the sender gets it (plaintext only in memory)."""

    task_id: UUID
    subject_id: str
    purpose: str
    channel: str
    to: str
    subject: str
    body: str


class Sender(Protocol):
    """Delivers a message (mail catcher, SMTP, an SMS provider...)."""

    async def send(self, message: Message) -> None:
        """Deliver ``message`` or raise."""
        ...


class MailCatcher:
    """Writes one file per message under ``directory/<subject_id>/`` (the embedded stack)."""

    def __init__(self, directory: Path) -> None:
        self.directory = directory

    def path_of(self, subject_id: str) -> Path:
        """The subject's folder (erased with the subject)."""
        return self.directory / re.sub(r"[^A-Za-z0-9_-]", "_", subject_id)

    async def send(self, message: Message) -> None:
        """Write the message as a file."""
        folder = self.path_of(message.subject_id)
        text = (f"To: {message.to}\nChannel: {message.channel}\nPurpose: {message.purpose}\n"
                f"Subject: {message.subject}\n\n{message.body}\n")

        def write() -> None:
            folder.mkdir(parents=True, exist_ok=True, mode=0o700)
            (folder / f"{message.task_id}.{message.channel}.txt").write_text(text, "utf-8")

        await asyncio.to_thread(write)

    def erase(self, subject_id: str) -> int:
        """Delete the subject's copies; returns how many there were."""
        folder = self.path_of(subject_id)
        if not folder.is_dir():
            return 0
        count = sum(1 for _ in folder.iterdir())
        shutil.rmtree(folder, ignore_errors=True)
        return count


class SmtpSender:
    """Sends e-mail through an SMTP relay (other channels need their provider's sender)."""

    def __init__(self, host: str, port: int, mail_from: str) -> None:
        self.host, self.port, self.mail_from = host, port, mail_from

    async def send(self, message: Message) -> None:
        """Hand the message to the relay."""
        if message.channel != "email":
            raise ValueError("the SMTP sender sends e-mail only")
        mail = EmailMessage()
        mail["From"], mail["To"], mail["Subject"] = self.mail_from, message.to, message.subject
        mail.set_content(message.body)

        def deliver() -> None:
            with smtplib.SMTP(self.host, self.port, timeout=10) as smtp:
                smtp.send_message(mail)

        await asyncio.to_thread(deliver)


def sender_from(settings: OutboundSettings) -> Sender:
    """The sender the settings name."""
    if settings.sender == "smtp":
        return SmtpSender(settings.smtp_host, settings.smtp_port, settings.mail_from)
    return MailCatcher(settings.mail_dir)


def outbound_migration(schema: str, inner: Migration) -> Migration:
    """``inner`` followed by the outbox table in ``schema``."""

    async def migrate(conn: asyncpg.Connection) -> None:
        await inner(conn)
        await conn.execute(outbound_ddl(schema))

    return migrate


def _aad(schema: str, task_id: UUID) -> bytes:
    return f"{schema}:comm:{task_id}".encode()


async def queue_message(
    conn: asyncpg.Connection, schema: str, keys: KeyStore, subject_id: str, purpose: str,
    channel: str, to: str, subject: str, body: str, send_after: datetime | None = None,
) -> UUID:
    """Queue a message in the caller's transaction; sealed with the subject's key.

    ``send_after`` schedules it (a campaign); the guard is asked when it is sent.
    """
    task_id = uuid4()
    key = (await keys.keys_for_writing([subject_id]))[subject_id]
    sealed = key.seal(orjson.dumps({"to": to, "subject": subject, "body": body}),
                      _aad(schema, task_id))
    await conn.execute(
        f"INSERT INTO {schema}.comm_outbox (task_id, subject_id, purpose, channel, message, "
        "send_after) VALUES ($1, $2, $3, $4, $5, coalesce($6, now()))",
        task_id, subject_id, purpose, channel, sealed, send_after)
    return task_id


class Dispatcher:
    """Sends queued tasks; each passes the guard at send time, not only when queued.

    Args:
        pool: The service's pool.
        schema: The service's schema.
        keys: The key store (to open messages).
        guard: The service's contact guard.
        sender: Where messages go.
        index: Index key, for unsubscribe tokens.
        public_url: The gateway's URL in unsubscribe links.
    """

    def __init__(self, pool: asyncpg.Pool, schema: str, keys: KeyStore, guard: ContactGuard,
                 sender: Sender, index: BlindIndex, public_url: str) -> None:
        self.pool, self.schema, self.keys, self.guard = pool, schema, keys, guard
        self.sender, self.index, self.public_url = sender, index, public_url

    async def run_once(self, limit: int = 100) -> dict[str, int]:
        """Send or refuse the queued tasks; returns counts by outcome."""
        done = {"sent": 0, "refused": 0}
        async with self.pool.acquire() as conn, conn.transaction():
            rows = await conn.fetch(
                f"SELECT task_id, subject_id, purpose, channel, message FROM "
                f"{self.schema}.comm_outbox WHERE status = 'queued' AND send_after <= now() "
                "ORDER BY send_after "
                "LIMIT $1 FOR UPDATE SKIP LOCKED", limit)
            for row in rows:
                status, reason = await self._send(conn, row)
                done[status] += 1
                await conn.execute(
                    f"UPDATE {self.schema}.comm_outbox SET status = $2, reason = $3, "
                    "done_at = now() WHERE task_id = $1", row["task_id"], status, reason)
        return done

    async def _send(self, conn: asyncpg.Connection,
                    row: asyncpg.Record) -> tuple[Literal["sent", "refused"], str | None]:
        subject_id, purpose, channel = row["subject_id"], row["purpose"], row["channel"]
        verdict = await self.guard.allows(subject_id, purpose, channel, conn)
        if not verdict.allowed:
            return "refused", verdict.reason
        key = (await self.keys.keys_for_reading([subject_id])).get(subject_id)
        if key is None:
            return "refused", "erased"
        data = orjson.loads(key.open(row["message"], _aad(self.schema, row["task_id"])))
        body = data["body"]
        standing = await self.guard.standing(conn, subject_id, purpose, channel)
        if standing is not None and standing.marketing:
            token = unsubscribe_token(self.index, subject_id, purpose)
            body += f"\n\nUnsubscribe: {self.public_url}/v1/unsubscribe/{token}\n"
        await self.sender.send(Message(row["task_id"], subject_id, purpose, channel,
                                       data["to"], data["subject"], body))
        log.info("outbound.sent", purpose=purpose, channel=channel)
        return "sent", None


async def erase_outbound(conn: asyncpg.Connection, schema: str, subject_id: str,
                         catcher: MailCatcher | None = None) -> dict[str, int]:
    """Delete the subject's tasks and the mail catcher's copies (PRV-5)."""
    deleted: dict[str, int] = {}
    count = await conn.fetchval(
        f"WITH gone AS (DELETE FROM {schema}.comm_outbox WHERE subject_id = $1 RETURNING 1) "
        "SELECT count(*) FROM gone", subject_id)
    if count:
        deleted["comm_outbox"] = int(count)
    files = (catcher or MailCatcher(OutboundSettings().mail_dir)).erase(subject_id)
    if files:
        deleted["mail catcher files"] = files
    return deleted


async def dispatch_forever(rt: Runtime, idle_seconds: float = 0.5) -> None:
    """Send the service's queued messages until cancelled (the host runs one per service)."""
    settings = OutboundSettings()
    dispatcher = Dispatcher(rt.pool, rt.name, rt.keys, guard_of(rt), sender_from(settings),
                            rt.index, settings.public_url)
    while True:
        try:
            done = await dispatcher.run_once()
        except Exception as exc:  # PostgreSQL away, a sender failing: retry, never die
            log.warning("outbound.retry", error=type(exc).__name__)
            done = {}
        if not any(done.values()):
            await asyncio.sleep(idle_seconds)
