"""Assemble the voice pipeline from settings and serve the phone line.

``build_engines`` loads what every call shares (recogniser, speech, VAD, the dialogue
client, the transcript store) once per process; ``build_synthesizer`` chooses the voice
(Kokoro, or espeak-ng when Kokoro is not wanted or cannot be used); ``serve_phone`` answers
SIP and AudioSocket calls with a ``CallSession`` each — and, with a trunk configured, places
call backs (voice/callbacks.py) — until stopped.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable

from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from liangwang.catalog.store import IndexCache
from liangwang.db import sessions_for, unit_of_work
from liangwang.dialogue import DialogueEngine, RasaRestEngine
from liangwang.settings import Settings, TtsEngine
from liangwang.wording import responses
from voice.callbacks import start_callbacks, stop_callbacks
from voice.errors import ModelMissing, SynthesizerError
from voice.events import CallEvent
from voice.hints import ALWAYS, RecognitionHints, request_vocabulary
from voice.line import CallHandler, CallLine
from voice.model_check import voice_status
from voice.ports import SpeechRecognizer, SpeechSynthesizer
from voice.prompts import PromptWarmer, domain_replies, fixed_sentences, reply_sentences
from voice.recognizers import load_now, make_recognizer
from voice.session import CallConfig, CallSession, VoiceEngines
from voice.transcripts import StoredTranscripts
from voice.tts import CachedSynthesizer, EspeakSynthesizer, KokoroSynthesizer
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
# Printed once at start when Kokoro was wanted but the line speaks with espeak instead.
VOICE_FALLBACK = (
    "语音合成改用 espeak / speaking with espeak: LIANGWANG_TTS_ENGINE={engine}, but the "
    "Kokoro voice at {path} {why}; fix: {fix} (or set LIANGWANG_TTS_ENGINE=espeak)"
)
VOICE_UNUSABLE = "is unusable ({problem})"
VOICE_NOT_LOADING = "does not load ({error})"


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


def build_synthesizer(settings: Settings) -> tuple[CachedSynthesizer, str | None]:
    """The voice ``LIANGWANG_TTS_ENGINE`` asks for, inside the WAV cache, and — when Kokoro
    was wanted (auto or kokoro) but is missing or does not load — one line saying why and
    how to fix it; espeak speaks instead, so the line never goes silent for want of a voice.

    Kokoro's worker is started here (a few seconds), because "loads" can only be known by
    loading it; espeak's workers start on first use."""
    inner, note = _voice(settings)
    return CachedSynthesizer(inner, settings.tts_cache_dir), note


def _voice(settings: Settings) -> tuple[SpeechSynthesizer, str | None]:
    if settings.tts_engine is TtsEngine.espeak:
        return EspeakSynthesizer(), None
    found = voice_status(settings)  # presence and sizes: quick
    if found.problem is not None:
        why = VOICE_UNUSABLE.format(problem=found.problem)
        return EspeakSynthesizer(), _fallback(settings, why, found.fix)
    kokoro = KokoroSynthesizer(
        settings.kokoro_model,
        speaker=settings.tts_speaker.value,
        slow_speed=settings.tts_slow_speed,
    )
    try:
        kokoro.start()
    except (SynthesizerError, ModelMissing) as exc:
        kokoro.close()
        return EspeakSynthesizer(), _fallback(
            settings, VOICE_NOT_LOADING.format(error=exc), found.fix
        )
    return kokoro, None


def _fallback(settings: Settings, why: str, fix: str) -> str:
    return VOICE_FALLBACK.format(
        engine=settings.tts_engine.value, path=settings.kokoro_model, why=why, fix=fix
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
    recognizer = load_now(recognizer or make_recognizer(settings, escape_phrases=ALWAYS))
    synthesizer, note = build_synthesizer(settings)
    if note is not None:
        print(note, flush=True)  # once per process, before any call: the operator sees it
    # Sentence by sentence, as the speaker plays them: whole prompts are never asked for, and
    # with Kokoro (about a second per sentence) warming them too doubled a first start.
    prompts = {name: responses()[name] for name in FIXED_PROMPTS}
    try:
        synthesizer.warm(fixed_sentences(prompts))
    except SynthesizerError as exc:  # a call can still synthesise them when needed
        log.warning("could not prepare the fixed prompts: %s", exc)
    return VoiceEngines(
        recognizer=recognizer,
        synthesizer=synthesizer,
        vad=WebrtcVad(),
        dialogue=dialogue or RasaRestEngine.from_settings(settings),
        recorder=StoredTranscripts(sessions, settings.recordings_dir),
        hints=recognition_hints(sessions),
    )


def recognition_hints(sessions: sessionmaker[Session]) -> RecognitionHints:
    """The hints, with the vocabulary of open requests from the catalog in the database
    (only the complaint categories' names when it cannot be read yet)."""
    try:
        with unit_of_work(sessions) as session:
            services = list(IndexCache().get(session).services.values())
    except SQLAlchemyError as exc:
        log.warning("open requests are heard without the catalog's names: %s", exc)
        services = []
    return RecognitionHints(vocabulary=request_vocabulary(services))


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


def prepare_prompts(
    settings: Settings, synthesizer: SpeechSynthesizer, busy: Callable[[], bool]
) -> PromptWarmer | None:
    """Every fixed sentence of the domain, then the catalog's and the categories' replies,
    into the speech cache, in the background and only while ``busy`` says no call is going
    on: the call prompts are ready already (``build_engines``). Nothing when
    ``LIANGWANG_TTS_PREPARE_IN_BACKGROUND`` is off."""
    if not settings.tts_prepare_in_background or not isinstance(synthesizer, CachedSynthesizer):
        return None
    warmer = PromptWarmer(synthesizer, prepared_sentences(settings), busy=busy)
    warmer.start()
    return warmer


def prepared_sentences(settings: Settings, *, openings_only: bool = False) -> list[str]:
    """What the line prepares, in order: the domain's fixed sentences (call prompts first),
    then the sentences of the replies the catalog and categories fix (or only the first
    sentence of each, ``openings_only``)."""
    fixed = fixed_sentences(responses(), first=FIXED_PROMPTS)
    known = set(fixed)
    replies = reply_sentences(
        domain_replies(settings, responses()), responses(), openings_only=openings_only
    )
    return [*fixed, *(s for s in replies if s not in known)]


async def serve_phone(settings: Settings, engines: VoiceEngines) -> None:
    """Answer calls on SIP and AudioSocket until SIGINT/SIGTERM."""
    from voice.telephony.audiosocket import AudioSocketServer
    from voice.telephony.sip import SipServer

    handler = call_handler(engines, call_config(settings))
    sip = SipServer(
        handler,
        host=settings.phone_host,
        port=settings.sip_port,
        rtp_ports=range(settings.rtp_port_min, settings.rtp_port_max + 1),
        public_host=settings.sip_public_host or None,
        trusted_peers=settings.sip_trusted_networks,
    )
    audiosocket = AudioSocketServer(
        handler,
        host=settings.phone_host,
        port=settings.audiosocket_port,
    )
    await sip.start()
    await audiosocket.start()
    callbacks = start_callbacks(settings, sip.dial, engines, call_config(settings))
    # Any call, answered or placed (call backs), on either line keeps the warming waiting.
    warmer = prepare_prompts(
        settings, engines.synthesizer, busy=lambda: bool(sip.calls or audiosocket.lines)
    )
    print(
        PHONE_LINE_READY.format(
            sip=f"{settings.phone_host}:{settings.sip_port}",
            audiosocket=f"{settings.phone_host}:{settings.audiosocket_port}",
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
        if warmer is not None:
            warmer.stop()
        await stop_callbacks(callbacks)
        await sip.stop()
        await audiosocket.stop()
        await engines.dialogue.aclose()
