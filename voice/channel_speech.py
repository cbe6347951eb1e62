"""``ChannelSpeech``: the ``liangwang.speech.Speech`` adapter for the text channels.

A Telegram voice note or the web page's press-to-talk is heard by the engine the phone line
uses (``LIANGWANG_STT_ENGINE``), with the hints of the question the conversation was just
asked (``voice.reply_plan``); a conversation nothing was asked of yet is heard as an open
request, with the catalog's and the categories' names as vocabulary. Replies are spoken by
the phone line's voice, through the same cache.

One per process. The engines load on first use (a few seconds, in a worker thread) so a
process that never hears a voice never pays for them. One recognition runs at a time: on
two cores, two Whisper decodes side by side finish no sooner than one after the other.
"""

from __future__ import annotations

import asyncio
import threading
from collections import OrderedDict
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from sqlalchemy.orm import Session, sessionmaker

from liangwang.conversation import BotMessage
from liangwang.settings import Settings
from liangwang.speech import Heard, Listening, Speech, SpeechUnavailable, UnreadableRecording
from voice.audio import Audio
from voice.errors import AudioFormatError, ModelMissing, PipelineError
from voice.hints import RecognitionHints
from voice.model_check import require
from voice.ports import RecognizerStream, SpeechRecognizer, SpeechSynthesizer
from voice.recording_codec import decode_recording, encode_voice_note
from voice.reply_plan import ReplyPlan
from voice.speech_text import split_sentences

HEARING_RATE = 16000  # what recordings are decoded to: both engines hear 16 kHz best
WAV_RATE = 16000  # spoken replies for the browser: clear speech at half of 22 kHz's size
CONVERSATIONS_TRACKED = 10_000  # what each was last asked; least recently heard first out


@dataclass(frozen=True)
class SpeechEngines:
    recognizer: SpeechRecognizer
    synthesizer: SpeechSynthesizer
    hints: RecognitionHints


@dataclass
class ChannelSpeech(Speech):
    load_engines: Callable[[], SpeechEngines]
    model_present: Callable[[], bool]
    min_confidence: float = 0.2
    max_seconds: float = 120.0
    _engines: SpeechEngines | None = None
    _present: bool = False  # once a model was found, it is not looked for again
    _loading: threading.Lock = field(default_factory=threading.Lock)
    _recognising: threading.Lock = field(default_factory=threading.Lock)
    _asked: OrderedDict[str, ReplyPlan] = field(default_factory=OrderedDict)

    @classmethod
    def from_settings(cls, settings: Settings, sessions: sessionmaker[Session]) -> ChannelSpeech:
        def load() -> SpeechEngines:
            # Imported here: the phone line's wiring, paid for only when voice is used.
            from voice.app import build_synthesizer, recognition_hints
            from voice.recognizers import load_now, make_recognizer

            synthesizer, _note = build_synthesizer(settings)  # espeak when Kokoro is not there
            return SpeechEngines(
                load_now(make_recognizer(settings)), synthesizer, recognition_hints(sessions)
            )

        def present() -> bool:
            try:
                require(settings)
            except ModelMissing:
                return False
            return True

        return cls(
            load,
            present,
            min_confidence=settings.voice_min_confidence,
            max_seconds=settings.voice_note_max_s,
        )

    @property
    def available(self) -> bool:
        """Asked for every message a page shows: the model folder is checked until it is
        found, then no more (a model installed later is found without a restart)."""
        if not self._present:
            self._present = self.model_present()
        return self._present

    def engines(self) -> SpeechEngines:
        """Loaded once; blocking (call from a worker thread)."""
        with self._loading:
            if self._engines is None:
                try:
                    self._engines = self.load_engines()
                except (ModelMissing, PipelineError) as exc:
                    raise SpeechUnavailable(str(exc)) from exc
            return self._engines

    # --- hearing ------------------------------------------------------------------------

    def _stream(self, conversation_id: str, rate: int) -> RecognizerStream:
        engines = self.engines()
        plan = self._asked.get(conversation_id) or ReplyPlan.open_request()
        return engines.recognizer.start(
            rate, plan.hints(engines.hints), vocabulary=plan.vocabulary(engines.hints)
        )

    def _finish(self, stream: RecognizerStream) -> Heard:
        with self._recognising:
            try:
                said = stream.finish()
            except PipelineError as exc:
                raise SpeechUnavailable(str(exc)) from exc
        if said.confidence < self.min_confidence:  # a guess is not an answer (as on the phone)
            return Heard("", said.confidence)
        return Heard(said.text.strip(), said.confidence)

    async def hear_recording(self, conversation_id: str, recording: bytes) -> Heard:
        def hear() -> Heard:
            try:
                audio = decode_recording(recording, rate=HEARING_RATE, max_seconds=self.max_seconds)
            except AudioFormatError as exc:
                raise UnreadableRecording(str(exc)) from exc
            stream = self._stream(conversation_id, audio.rate)
            stream.accept(audio.pcm)
            return self._finish(stream)

        return await asyncio.to_thread(hear)

    async def listen(self, conversation_id: str, rate: int) -> Listening:
        if rate not in (8000, 16000):
            raise UnreadableRecording(f"{rate} Hz: send 8000 or 16000 Hz")
        stream = await asyncio.to_thread(self._stream, conversation_id, rate)
        return _Listening(self, stream, int(self.max_seconds * rate) * 2)

    def asked(self, conversation_id: str, replies: Sequence[BotMessage]) -> None:
        self._asked.pop(conversation_id, None)
        self._asked[conversation_id] = ReplyPlan.from_messages(replies)
        while len(self._asked) > CONVERSATIONS_TRACKED:
            self._asked.popitem(last=False)

    # --- speaking -----------------------------------------------------------------------

    def sentences(self, text: str) -> list[str]:
        return split_sentences(text)

    def _spoken(self, texts: Sequence[str], rate: int) -> Audio:
        synthesizer = self.engines().synthesizer
        try:
            clips = [synthesizer.synthesize(s) for t in texts for s in split_sentences(t)]
        except PipelineError as exc:
            raise SpeechUnavailable(str(exc)) from exc
        return Audio.concat(clips, rate)

    async def speak_wav(self, texts: Sequence[str]) -> bytes:
        return await asyncio.to_thread(lambda: self._spoken(texts, WAV_RATE).to_wav())

    async def speak_voice_note(self, texts: Sequence[str]) -> bytes:
        return await asyncio.to_thread(lambda: encode_voice_note(self._spoken(texts, HEARING_RATE)))


@dataclass
class _Listening:
    """Streamed PCM, bounded: past the longest turn the rest is not kept."""

    speech: ChannelSpeech
    stream: RecognizerStream
    max_bytes: int
    taken: int = 0

    def accept(self, pcm: bytes) -> None:
        if len(pcm) % 2:
            raise UnreadableRecording("PCM must be whole 16-bit samples")
        piece = pcm[: max(0, self.max_bytes - self.taken)]
        if piece:
            self.stream.accept(piece)
            self.taken += len(piece)

    @property
    def full(self) -> bool:
        return self.taken >= self.max_bytes

    async def finish(self) -> Heard:
        return await asyncio.to_thread(self.speech._finish, self.stream)
