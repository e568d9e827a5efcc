"""Telegram Desktop chat export (``result.json``, "Export chat history" in JSON).

Two shapes: one chat (``{"name", "type", "id", "messages": [...]}``) or the whole account
(``{"chats": {"list": [...]}, "left_chats": {"list": [...]}}``). A message's ``date`` is
the exporting computer's local time without a zone; ``date_unixtime`` (exports since 2021)
is the true UTC instant and is what ``time`` holds; the local text is kept as is.
``text`` is a string or a list of strings and entity objects (links, bold, mentions...).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime
from typing import Any, ClassVar

from dalil.engine.forensics.artifacts.base import (
    ArtifactError,
    ArtifactInput,
    ArtifactParseError,
    ArtifactRecord,
    register,
    unix_seconds,
)

MAX_SIZE = 2 * 1024**3  # the export is read whole: refuse a file larger than this


@dataclass(frozen=True, kw_only=True)
class TelegramMessage(ArtifactRecord):
    kind: ClassVar[str] = "telegram-message"
    time_field: ClassVar[str | None] = "time"
    chat_name: str | None
    chat_type: str | None
    chat_id: int | None
    message_id: int | None
    time: datetime | None  # UTC from date_unixtime
    local_time: str | None  # "date" as exported: local clock of the exporting computer
    sender: str | None
    sender_id: str | None
    text: str
    message_type: str = "message"  # message or service
    action: str | None = None  # service messages: create_group, invite_members, ...
    media_type: str | None = None
    file: str | None = None  # relative path inside the export folder
    forwarded_from: str | None = None
    reply_to: int | None = None
    edited: datetime | None = None


def flatten_text(value: Any) -> str:
    """A message's text as plain text (entity objects contribute their ``text``)."""
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        parts = []
        for part in value:
            if isinstance(part, str):
                parts.append(part)
            elif isinstance(part, dict):
                parts.append(str(part.get("text", "")))
        return "".join(parts)
    return ""


def _chats(document: Any) -> Iterator[dict[str, Any]]:
    if not isinstance(document, dict):
        raise ArtifactParseError("not a Telegram export: the top level is not an object")
    if isinstance(document.get("messages"), list):
        yield document
        return
    found = False
    for key in ("chats", "left_chats"):
        section = document.get(key)
        if isinstance(section, dict) and isinstance(section.get("list"), list):
            found = True
            for chat in section["list"]:
                if isinstance(chat, dict):
                    yield chat
    if not found:
        raise ArtifactParseError("not a Telegram export: no messages nor chats list")


def _int(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.lstrip("-").isdigit():
        return int(value)
    return None


def _message(item: ArtifactInput, chat: dict[str, Any], message: dict[str, Any]) -> TelegramMessage:
    sender = message.get("from") if message.get("type") != "service" else message.get("actor")
    sender_id = message.get("from_id") or message.get("actor_id")
    media = message.get("file") or message.get("photo")
    return TelegramMessage(
        source=item.source,
        chat_name=chat.get("name"),
        chat_type=chat.get("type"),
        chat_id=_int(chat.get("id")),
        message_id=_int(message.get("id")),
        time=unix_seconds(message.get("date_unixtime")),
        local_time=message.get("date") if isinstance(message.get("date"), str) else None,
        sender=sender if isinstance(sender, str) else None,
        sender_id=str(sender_id) if sender_id is not None else None,
        text=flatten_text(message.get("text", "")),
        message_type=str(message.get("type", "message")),
        action=message.get("action"),
        media_type=message.get("media_type") or ("photo" if message.get("photo") else None),
        file=media if isinstance(media, str) else None,
        forwarded_from=message.get("forwarded_from"),
        reply_to=_int(message.get("reply_to_message_id")),
        edited=unix_seconds(message.get("edited_unixtime")),
    )


@register("telegram.desktop", "Telegram Desktop chat export (result.json)",
          names=("result.json",))
def parse_export(item: ArtifactInput) -> Iterator[ArtifactRecord]:
    if item.size is not None and item.size > MAX_SIZE:
        raise ArtifactParseError(f"{item.size} bytes: larger than {MAX_SIZE}, not read")
    with item.open() as handle:
        raw = handle.read()
    try:
        document = json.loads(raw.decode("utf-8-sig"))
    except UnicodeDecodeError as exc:
        raise ArtifactParseError(f"not UTF-8 text at byte {exc.start}") from exc
    except json.JSONDecodeError as exc:
        raise ArtifactParseError(f"invalid JSON at line {exc.lineno} column {exc.colno}: "
                                 f"{exc.msg}") from exc
    for chat in _chats(document):
        messages = chat.get("messages")
        if not isinstance(messages, list):
            continue
        for index, message in enumerate(messages):
            if not isinstance(message, dict):
                yield ArtifactError(source=item.source, message=(
                    f"{item.source.path}: chat {chat.get('name')!r}: message #{index} is "
                    "not an object: skipped"))
                continue
            yield _message(item, chat, message)
