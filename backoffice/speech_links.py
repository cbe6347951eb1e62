"""Spoken replies on the web page, said only as the assistant wrote them.

Every reply the page is sent carries a signature of its text (HMAC-SHA256 under
LIANGWANG_SPEECH_LINK_SECRET); ``POST /api/chat/speech`` speaks a text only with its
signature. Without this the page would be a free service for making the city's voice say
anything at all, and a cheap way to keep the speech engine busy.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets

from liangwang.settings import Settings


class SpeechSigner:
    def __init__(self, key: bytes) -> None:
        self._key = key

    @classmethod
    def from_settings(cls, settings: Settings) -> SpeechSigner:
        # Without a configured key (a web app started on its own, as in tests) this process
        # makes one: its pages' signatures are good on this process only.
        secret = settings.speech_link_secret
        key = secret.get_secret_value().encode() if secret else secrets.token_bytes(32)
        return cls(key)

    def sign(self, text: str) -> str:
        return hmac.new(self._key, text.encode("utf-8"), hashlib.sha256).hexdigest()

    def verify(self, text: str, signature: str) -> bool:
        return hmac.compare_digest(self.sign(text), signature)
