"""Assemble the voice pipeline from settings and serve the phone line.

``build_engines`` loads what every call shares (recogniser, speech, VAD, the dialogue
client, the transcript store) once per process; ``serve_phone`` answers SIP and AudioSocket
calls with a ``CallSession`` each, until stopped.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from liangwang.db import sessions_for
from liangwang.dialogue import DialogueEngine, RasaRestEngine
from liangwang.settings import Settings
from liangwang.wording import responses
from voice.errors import SynthesizerError
from voice.events import CallEvent
from voice.hints import ALWAYS
from voice.line import CallHandler, CallLine
from voice.ports import SpeechRecognizer
from voice.recognizers import make_recognizer
from voice.session import CallConfig, CallSession, VoiceEngines
from voice.transcripts import StoredTranscripts
from voice.tts import CachedSynthesizer, EspeakSynthesizer
from voice.vad import WebrtcVad

log = logging.getLogger(__name__)

# Prompts every call may need: synthesised at start-up so the first caller does not wait.
FIXED_PROMPTS = (
    "utter_voice_reprompt",
    "utter_voice_reprompt_again",
    "utter_voice_not_heard",
    "utter_voice_slower",
    "utter_voice_error",
    "utter_voice_callback",
    "utter_voice_goodbye_silent",
    "utter_greet",
    "utter_handoff",
    "utter_goodbye",
)

PHONE_LINE_READY = "电话线路已启动 / phone line ready: SIP udp {sip}, AudioSocket tcp {audiosocket}"


def call_config(settings: Settings) -> CallConfig:
    return CallConfig(
        end_silence_ms=settings.voice_end_silence_ms,
        quick_end_silence_ms=settings.voice_quick_end_silence_ms,
        hesitant_end_silence_ms=settings.voice_hesitant_end_silence_ms,
        reprompt_after_s=settings.voice_reprompt_after_s,
        max_turn_s=settings.voice_max_turn_s,
        digit_timeout_s=settings.voice_digit_timeout_s,
        handoff_uri=settings.voice_handoff_uri,
        min_confidence=settings.voice_min_confidence,
    )


def build_engines(
    settings: Settings,
    *,
    dialogue: DialogueEngine | None = None,
    recognizer: SpeechRecognizer | None = None,
) -> VoiceEngines:
    """Everything calls share. Raises ``ModelMissing`` when the configured model is not
    usable, naming the setting and the fix."""
    sessions = sessions_for(settings.effective_database_url)
    recognizer = recognizer or make_recognizer(settings, escape_phrases=ALWAYS)
    load = getattr(recognizer, "load", None)
    if callable(load):
        load()  # pay for loading the model now, not on the first caller's first words
    synthesizer = CachedSynthesizer(EspeakSynthesizer(), settings.tts_cache_dir)
    try:
        synthesizer.warm(str(responses()[name][0]["text"]) for name in FIXED_PROMPTS)
    except SynthesizerError as exc:  # a call can still synthesise them when needed
        log.warning("could not prepare the fixed prompts: %s", exc)
    return VoiceEngines(
        recognizer=recognizer,
        synthesizer=synthesizer,
        vad=WebrtcVad(),
        dialogue=dialogue or RasaRestEngine.from_settings(settings),
        recorder=StoredTranscripts(sessions, settings.recordings_dir),
    )


def call_handler(
    engines: VoiceEngines,
    config: CallConfig,
    on_event: Callable[[CallLine, CallEvent], None] | None = None,
) -> CallHandler:
    async def handle(line: CallLine) -> None:
        log.info("call %s from %s (%s)", line.call_id, line.caller, line.kind)
        listener = (lambda event: on_event(line, event)) if on_event else None
        reason = await CallSession(line, engines, config, on_event=listener).run()
        log.info("call %s ended: %s", line.call_id, reason)

    return handle


async def serve_phone(settings: Settings, engines: VoiceEngines) -> None:
    """Answer calls on SIP and AudioSocket until SIGINT/SIGTERM."""
    from voice.telephony.audiosocket import AudioSocketServer
    from voice.telephony.sip import SipServer

    handler = call_handler(engines, call_config(settings))
    sip = SipServer(
        handler,
        host=settings.host,
        port=settings.sip_port,
        rtp_ports=range(settings.rtp_port_min, settings.rtp_port_max + 1),
        public_host=settings.sip_public_host or None,
    )
    audiosocket = AudioSocketServer(
        handler,
        host=settings.host,
        port=settings.audiosocket_port,
    )
    await sip.start()
    await audiosocket.start()
    print(
        PHONE_LINE_READY.format(
            sip=f"{settings.host}:{settings.sip_port}",
            audiosocket=f"{settings.host}:{settings.audiosocket_port}",
        ),
        flush=True,
    )
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    try:
        await stop.wait()
    finally:
        await sip.stop()
        await audiosocket.stop()
        await engines.dialogue.aclose()
