"""The citizen web app as ``liangwang run`` serves it (``uvicorn ops.web_apps:citizen_app
--factory``): the app of ``backoffice.app`` with the phone line's speech engines for
press-to-talk and spoken replies. The engines load on the first voice turn."""

from __future__ import annotations

from fastapi import FastAPI

from backoffice.app import create_citizen_app
from liangwang.db import sessions_for
from liangwang.settings import load_settings
from voice.channel_speech import ChannelSpeech


def citizen_app() -> FastAPI:
    settings = load_settings()
    speech = ChannelSpeech.from_settings(settings, sessions_for(settings.effective_database_url))
    return create_citizen_app(settings, speech=speech)
