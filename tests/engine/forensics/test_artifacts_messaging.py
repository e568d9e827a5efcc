"""Telegram Desktop result.json, Android mmssms.db and contacts2.db, built here."""

from __future__ import annotations

import json
import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from dalil.engine.forensics.artifacts import parse_file

T0 = 1_709_900_000  # 2024-03-08T12:13:20Z


def telegram_chat(chat_id: int = 777) -> dict:
    return {
        "name": "Suppliers", "type": "private_group", "id": chat_id,
        "messages": [
            {"id": 1, "type": "service", "date": "2024-03-08T17:13:20",
             "date_unixtime": str(T0), "actor": "Aibek", "actor_id": "user42",
             "action": "create_group", "text": ""},
            {"id": 2, "type": "message", "date": "2024-03-08T17:14:20",
             "date_unixtime": str(T0 + 60), "from": "Aibek", "from_id": "user42",
             "text": ["send to ", {"type": "code", "text": "bc1qexample"}, " today"],
             "reply_to_message_id": 1, "edited_unixtime": str(T0 + 120)},
            {"id": 3, "type": "message", "date": "2024-03-08T17:15:20", "from": "Dana",
             "from_id": "user7", "text": "", "photo": "photos/photo_1.jpg"},
            "garbage",
        ],
    }


def test_telegram_single_chat(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps(telegram_chat(), ensure_ascii=False), encoding="utf-8")
    records = list(parse_file(path))
    messages = [r for r in records if r.kind == "telegram-message"]
    assert [m.message_id for m in messages] == [1, 2, 3]
    service, text, photo = messages
    assert service.message_type == "service" and service.action == "create_group"
    assert service.sender == "Aibek"
    assert text.text == "send to bc1qexample today" and text.reply_to == 1
    assert text.time == datetime.fromtimestamp(T0 + 60, UTC)
    assert text.edited == datetime.fromtimestamp(T0 + 120, UTC)
    assert text.local_time == "2024-03-08T17:14:20" and text.chat_name == "Suppliers"
    assert photo.time is None and photo.local_time == "2024-03-08T17:15:20"  # old export
    assert photo.media_type == "photo" and photo.file == "photos/photo_1.jpg"
    errors = [r for r in records if r.kind == "artifact-error"]
    assert len(errors) == 1 and "message #3" in errors[0].message


def test_telegram_full_account_export(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text(json.dumps({"about": "x", "chats": {"list": [telegram_chat(1)]},
                                "left_chats": {"list": [telegram_chat(2)]}}))
    chats = {r.chat_id for r in parse_file(path) if r.kind == "telegram-message"}
    assert chats == {1, 2}


def test_telegram_bad_json(tmp_path: Path) -> None:
    path = tmp_path / "result.json"
    path.write_text('{"name": "x", "messages": [')
    [error] = parse_file(path)
    assert error.kind == "artifact-error" and "invalid JSON at line 1" in error.message
    path.write_text('{"something": "else"}')
    [error] = parse_file(path)
    assert "not a Telegram export" in error.message
    path.write_bytes(b"\xff\xfe{}")
    [error] = parse_file(path)
    assert error.kind == "artifact-error"


def mmssms(path: Path) -> Path:
    with sqlite3.connect(path) as db:
        db.execute("CREATE TABLE sms (_id INTEGER PRIMARY KEY, thread_id INTEGER, "
                   "address TEXT, person INTEGER, date INTEGER, date_sent INTEGER, "
                   "protocol INTEGER, read INTEGER, status INTEGER, type INTEGER, "
                   "body TEXT, seen INTEGER)")
        db.execute("INSERT INTO sms VALUES (1, 3, '+77011234567', NULL, ?, ?, 0, 1, -1, 1, "
                   "'Your code is 4411', 1)", (T0 * 1000, T0 * 1000 - 5000))
        db.execute("INSERT INTO sms VALUES (2, 3, '+77011234567', NULL, ?, 0, 0, 1, -1, 2, "
                   "'ok, sending', 1)", (T0 * 1000 + 60_000,))
    return path


def test_android_sms(tmp_path: Path) -> None:
    received, sent = parse_file(mmssms(tmp_path / "mmssms.db"))
    assert (received.kind, received.folder, received.direction) == ("sms", "inbox", "incoming")
    assert received.time == datetime.fromtimestamp(T0, UTC)
    assert received.sent_time == datetime.fromtimestamp(T0 - 5, UTC)
    assert received.body == "Your code is 4411" and received.read is True
    assert sent.direction == "outgoing" and sent.sent_time is None and sent.row_id == 2


def test_android_contacts(tmp_path: Path) -> None:
    path = tmp_path / "contacts2.db"
    with sqlite3.connect(path) as db:
        db.executescript("""
        CREATE TABLE mimetypes (_id INTEGER PRIMARY KEY, mimetype TEXT);
        CREATE TABLE raw_contacts (_id INTEGER PRIMARY KEY, account_name TEXT,
            display_name TEXT, deleted INTEGER, times_contacted INTEGER,
            last_time_contacted INTEGER);
        CREATE TABLE data (_id INTEGER PRIMARY KEY, raw_contact_id INTEGER,
            mimetype_id INTEGER, data1 TEXT);
        INSERT INTO mimetypes VALUES (1, 'vnd.android.cursor.item/phone_v2'),
            (2, 'vnd.android.cursor.item/email_v2'), (3, 'vnd.android.cursor.item/name');
        """)
        db.execute("INSERT INTO raw_contacts VALUES (1, 'a@gmail.com', 'Courier Bek', 0, 4, ?)",
                   (T0 * 1000,))
        db.execute("INSERT INTO raw_contacts VALUES (2, NULL, NULL, 1, 0, 0)")
        db.executemany("INSERT INTO data (raw_contact_id, mimetype_id, data1) VALUES (?,?,?)",
                       [(1, 1, "+77017654321"), (1, 1, "+77017654321"), (1, 1, "8 700 111"),
                        (1, 2, "bek@example.org"), (2, 3, "Old Name"), (2, 1, None)])
    bek, old = parse_file(path)
    assert bek.kind == "contact" and bek.name == "Courier Bek"
    assert bek.phones == ("+77017654321", "8 700 111") and bek.emails == ("bek@example.org",)
    assert bek.last_contacted == datetime.fromtimestamp(T0, UTC) and bek.times_contacted == 4
    assert old.name == "Old Name" and old.deleted and old.last_contacted is None
    assert bek.to_dict()["phones"] == ["+77017654321", "8 700 111"]


def test_android_corrupt_databases(tmp_path: Path) -> None:
    good = mmssms(tmp_path / "good.db").read_bytes()
    broken = tmp_path / "mmssms.db"
    broken.write_bytes(good[:100] + b"\x00" * 50 + good[150:])
    for record in parse_file(broken):
        assert record.kind in ("sms", "artifact-error")
    empty = tmp_path / "x" / "contacts2.db"
    empty.parent.mkdir()
    with sqlite3.connect(empty) as db:
        db.execute("CREATE TABLE t (x)")
    [error] = parse_file(empty)
    assert error.kind == "artifact-error" and "contacts2.db" in error.message
