"""Android telephony and contacts providers: ``mmssms.db`` (table ``sms``) and
``contacts2.db`` (``raw_contacts`` + ``data`` + ``mimetypes``). Times are milliseconds
since the Unix epoch."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from dataclasses import dataclass
from datetime import datetime
from typing import ClassVar

from dalil.engine.forensics.artifacts.base import (
    ArtifactInput,
    ArtifactParseError,
    ArtifactRecord,
    open_sqlite,
    register,
    tables,
    unix_milli,
)

SMS_TYPES = {1: "inbox", 2: "sent", 3: "draft", 4: "outbox", 5: "failed", 6: "queued"}
_PHONE = "vnd.android.cursor.item/phone_v2"
_EMAIL = "vnd.android.cursor.item/email_v2"
_NAME = "vnd.android.cursor.item/name"


@dataclass(frozen=True, kw_only=True)
class SmsMessage(ArtifactRecord):
    kind: ClassVar[str] = "sms"
    time_field: ClassVar[str | None] = "time"
    address: str | None
    time: datetime | None
    body: str | None
    folder: str | None  # inbox, sent, draft, outbox, failed, queued
    sent_time: datetime | None = None
    read: bool | None = None
    thread_id: int | None = None
    row_id: int | None = None

    @property
    def direction(self) -> str | None:
        if self.folder == "inbox":
            return "incoming"
        return "outgoing" if self.folder else None


@dataclass(frozen=True, kw_only=True)
class Contact(ArtifactRecord):
    kind: ClassVar[str] = "contact"
    time_field: ClassVar[str | None] = "last_contacted"
    name: str | None
    phones: tuple[str, ...] = ()
    emails: tuple[str, ...] = ()
    account: str | None = None
    deleted: bool = False
    times_contacted: int | None = None
    last_contacted: datetime | None = None
    row_id: int | None = None  # raw_contacts._id


@register("android.sms", "Android SMS messages (mmssms.db)", names=("mmssms.db",),
          types=("sqlite",))
def parse_sms(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    with closing(open_sqlite(item)) as db:
        schema = tables(db)
        columns = schema.get("sms")
        if not columns:
            raise ArtifactParseError("no sms table: not an Android mmssms.db")

        def pick(name: str) -> str:
            return name if name in columns else "NULL"

        query = (f"SELECT _id, {pick('address')}, {pick('date')}, {pick('date_sent')}, "  # noqa: S608
                 f"{pick('body')}, {pick('type')}, {pick('read')}, {pick('thread_id')} "
                 "FROM sms ORDER BY date, _id")
        for row_id, address, date, sent, body, kind, read, thread in db.execute(query):
            yield SmsMessage(
                source=item.source, address=address, time=unix_milli(date), body=body,
                folder=SMS_TYPES.get(kind, str(kind)) if kind is not None else None,
                sent_time=unix_milli(sent), read=bool(read) if read is not None else None,
                thread_id=thread, row_id=row_id,
            )


@register("android.contacts", "Android contacts (contacts2.db)", names=("contacts2.db",),
          types=("sqlite",))
def parse_contacts(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    with closing(open_sqlite(item)) as db:
        schema = tables(db)
        if not {"raw_contacts", "data", "mimetypes"} <= set(schema):
            raise ArtifactParseError("no raw_contacts/data/mimetypes tables: not an Android "
                                     "contacts2.db")
        raw = schema["raw_contacts"]

        def pick(name: str) -> str:
            return f"r.{name}" if name in raw else "NULL"

        details: dict[int, dict[str, list[str]]] = {}
        for contact_id, mimetype, value in db.execute(
                "SELECT d.raw_contact_id, m.mimetype, d.data1 FROM data d "
                "JOIN mimetypes m ON m._id = d.mimetype_id "
                "WHERE m.mimetype IN (?, ?, ?) ORDER BY d.raw_contact_id, d._id",
                (_PHONE, _EMAIL, _NAME)):
            if value is None:
                continue
            found = details.setdefault(contact_id, {"phones": [], "emails": [], "names": []})
            key = {_PHONE: "phones", _EMAIL: "emails", _NAME: "names"}[mimetype]
            if str(value) not in found[key]:
                found[key].append(str(value))
        query = (f"SELECT r._id, {pick('display_name')}, {pick('account_name')}, "  # noqa: S608
                 f"{pick('deleted')}, {pick('times_contacted')}, "
                 f"{pick('last_time_contacted')} FROM raw_contacts r ORDER BY r._id")
        for row_id, name, account, deleted, times, last in db.execute(query):
            found = details.get(row_id, {"phones": [], "emails": [], "names": []})
            yield Contact(
                source=item.source, name=name or next(iter(found["names"]), None),
                phones=tuple(found["phones"]), emails=tuple(found["emails"]),
                account=account, deleted=bool(deleted), times_contacted=times,
                last_contacted=unix_milli(last), row_id=row_id,
            )
