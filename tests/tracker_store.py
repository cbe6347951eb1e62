"""Rasa's tracker store in tests: its events table, written as Rasa writes it."""

from __future__ import annotations

import json

from sqlalchemy import create_engine, text

from liangwang.settings import Settings


def rasa_said(
    settings: Settings,
    conversation_id: str,
    turns: list[tuple[str, str]] | list[tuple[str, str, dict[str, object]]],
) -> None:
    """``turns``: (event type, text), e.g. ("user", "我要投诉"), ("bot", "请说说…"), or with
    the event's ``data`` (a bot message's buttons and custom) as a third item."""
    settings.data_dir.mkdir(parents=True, exist_ok=True)
    store = create_engine(settings.effective_tracker_store_url)
    with store.begin() as c:
        c.execute(
            text(
                "CREATE TABLE IF NOT EXISTS events (id INTEGER PRIMARY KEY, sender_id TEXT, "
                "type_name TEXT, timestamp FLOAT, data TEXT)"
            )
        )
        for n, (kind, words, *data) in enumerate(turns):
            c.execute(
                text(
                    "INSERT INTO events (sender_id, type_name, timestamp, data) "
                    "VALUES (:s, :k, :t, :d)"
                ),
                {
                    "s": conversation_id,
                    "k": kind,
                    "t": 1_700_000_000 + n,
                    "d": json.dumps({"text": words, "data": data[0] if data else {}}),
                },
            )
    store.dispose()
