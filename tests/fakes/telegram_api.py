"""A local stand-in for Telegram's Bot API servers (this machine cannot reach them).

Speaks just enough of the HTTP API for python-telegram-bot's polling and replies:
getMe, deleteWebhook, getUpdates, sendMessage, sendVoice (a file upload), answerCallbackQuery,
setMyCommands, getFile and file downloads. Tests queue updates (and the files they refer
to) and read what the bot sent.
"""

from __future__ import annotations

import asyncio
import json
import threading
import time
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI, Request, Response
from fastapi.responses import JSONResponse
from starlette.datastructures import UploadFile

from tests.fakes.server import ServedApp


@dataclass
class FakeTelegram:
    pending: list[dict[str, Any]] = field(default_factory=list)
    sent: list[tuple[str, dict[str, Any]]] = field(default_factory=list)
    files: dict[str, bytes] = field(default_factory=dict)  # file_id → content
    downloads: list[str] = field(default_factory=list)  # file paths fetched
    retry_after_once: bool = False  # refuse the first sendMessage with flood control
    blocked: set[int] = field(default_factory=set)  # chats whose user blocked the bot
    refused: set[int] = field(default_factory=set)  # indexes in ``sent`` of refused calls
    _next_update: int = 1
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def queue(self, update: dict[str, Any]) -> None:
        with self._lock:
            self.pending.append({"update_id": self._next_update, **update})
            self._next_update += 1

    def messages(self) -> list[dict[str, Any]]:
        """What reached the chats (sends refused did not)."""
        return [
            params
            for index, (method, params) in enumerate(list(self.sent))
            if method == "sendMessage" and index not in self.refused
        ]

    def voices(self) -> list[dict[str, Any]]:
        """Voice notes sent: their chat and ``voice`` (the uploaded bytes)."""
        return [params for method, params in list(self.sent) if method == "sendVoice"]

    def wait_for_messages(self, count: int, timeout_s: float = 15) -> list[dict[str, Any]]:
        deadline = time.monotonic() + timeout_s
        while len(self.messages()) < count and time.monotonic() < deadline:
            time.sleep(0.05)
        return self.messages()

    def app(self) -> FastAPI:
        api = FastAPI()

        @api.get("/file/bot{token}/{path:path}")
        async def download(token: str, path: str) -> Response:
            self.downloads.append(path)
            return Response(self.files[path.removeprefix("files/")])

        @api.post("/bot{token}/{method}")
        async def call(token: str, method: str, request: Request) -> Any:
            params = await _params(request)
            self.sent.append((method, params))
            if method == "sendMessage" and int(params.get("chat_id", 0)) in self.blocked:
                self.refused.add(len(self.sent) - 1)
                gone = {"ok": False, "error_code": 403}
                blocked = "Forbidden: bot was blocked by the user"
                return JSONResponse({**gone, "description": blocked}, status_code=403)
            if method == "sendMessage" and self.retry_after_once:
                self.retry_after_once = False
                self.refused.add(len(self.sent) - 1)
                flood = {"ok": False, "error_code": 429, "description": "Too Many Requests"}
                return JSONResponse({**flood, "parameters": {"retry_after": 1}}, status_code=429)
            return {"ok": True, "result": await self._result(method, params)}

        return api

    async def _result(self, method: str, params: dict[str, Any]) -> Any:
        if method == "getMe":
            return {"id": 1, "is_bot": True, "first_name": "两网通办", "username": "lw_test_bot"}
        if method == "getUpdates":
            offset = int(params.get("offset") or 0)
            for _ in range(20):  # short long-poll
                with self._lock:
                    ready = [u for u in self.pending if u["update_id"] >= offset]
                if ready:
                    return ready
                await asyncio.sleep(0.05)
            return []
        if method == "sendMessage":
            return {
                "message_id": len(self.sent),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "text": params.get("text", ""),
            }
        if method == "sendVoice":
            return {
                "message_id": len(self.sent),
                "date": int(time.time()),
                "chat": {"id": int(params["chat_id"]), "type": "private"},
                "voice": {"file_id": "v", "file_unique_id": "v", "duration": 1},
            }
        if method == "getFile":
            file_id = str(params["file_id"])
            return {
                "file_id": file_id,
                "file_unique_id": file_id,
                "file_size": len(self.files[file_id]),
                "file_path": f"files/{file_id}",
            }
        return True


async def _params(request: Request) -> dict[str, Any]:
    if request.headers.get("content-type", "").startswith("application/json"):
        body: dict[str, Any] = await request.json()
        return body
    form = await request.form()
    params: dict[str, Any] = {}
    for key, value in form.items():
        if isinstance(value, UploadFile):  # a file sent with the call (sendVoice's voice)
            params[key] = await value.read()
            continue
        text = str(value)
        try:
            params[key] = json.loads(text) if text[:1] in "{[" else text
        except json.JSONDecodeError:
            params[key] = text
    return params


class RunningFake(ServedApp):
    """The stand-in, served on a free port; ``base_url`` is what PTB's base_url takes."""

    def __init__(self, fake: FakeTelegram) -> None:
        super().__init__(fake.app())

    @property
    def base_url(self) -> str:
        return f"{self.url}/bot"

    @property
    def base_file_url(self) -> str:
        return f"{self.url}/file/bot"
