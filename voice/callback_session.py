"""One call back (回访电话): the phone line calls a citizen with the answer to their complaint.

A short scripted conversation on the same parts as an inbound call (a ``Listener``, a
``Speaker``, the transcript recorder) and no dialogue engine:

1. who is calling and why, the ticket's status and the department's answer
   (``CallbackScript``, worded in bot/domain.yml), then — when the ticket is 办结 and not
   rated yet — the question for 好差评: one to five, said ("四分") or keyed (1–5);
2. a rating is recorded on the ticket (audited), thanked for, and we say goodbye;
3. without a rating to ask for, the citizen may ask for a person or to hear it again, and
   we say goodbye.

As on every call: "转人工" or key 0 hands over to a person (listed for staff, and REFERred
to the staff line when one is configured), "再说一遍" or ``*`` repeats, "说慢一点" slows
us down; silence gets one reminder before a polite goodbye.

What the session achieved is its result: whether the answer was heard (played to its end
with the citizen still on the line, or they answered us, or we said goodbye: the ticket is
then told; a citizen who hangs up during it has not heard it), the rating, a handoff.
"""

from __future__ import annotations

import asyncio
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

from liangwang.complaints.callback_queue import CallbackScript
from liangwang.complaints.models import Status
from liangwang.spoken import parse_age, spoken_digits
from liangwang.wording import Say, render
from voice import events as ev
from voice.audio import FRAME_MS, Audio
from voice.call_log import CallLog
from voice.events import CallEndReason, SpokeReason
from voice.hints import ALWAYS
from voice.line import AudioFrame, CallLine, Dtmf, Hangup, InboundEvent
from voice.listener import Heard, Listener, RecognitionFailed
from voice.session import IDLE_WAIT_S, REPEAT_WORDS, SLOWER_WORDS, CallConfig, VoiceEngines
from voice.speaker import Speaker

log = logging.getLogger(__name__)
T = TypeVar("T")

HANDOFF_WORDS = ("转人工", "人工", "真人", "找人")
# What a citizen says when asked for a score; given to the recogniser as hints.
RATING_HINTS = ("一分", "两分", "三分", "四分", "五分", "五分满意", *ALWAYS)
RATING_KEYS = "12345"
MAX_MISSES = 2  # unclear answers (or silences) before we let it be and say goodbye
_NOT_WORDS = re.compile(r"[\s\W_]+")


class CallbackDesk(Protocol):
    """What a call back does to its ticket. Called from a worker thread."""

    def told(self) -> None:
        """The citizen heard the answer."""

    def rate(self, stars: int) -> bool:
        """好差评 from the citizen; False when the ticket cannot take it."""

    def hand_over(self, last_words: str) -> None:
        """转人工: list the citizen for staff."""


@dataclass
class CallbackResult:
    told: bool = False
    rating: int | None = None
    handed_over: bool = False
    ended: CallEndReason | None = None


def rating_in(text: str) -> int | None:
    """A score of one to five in what was said ("四分", "给五分", "两分", "3"); None
    otherwise."""
    stars = parse_age(text)
    if stars is None:  # 两 (as in 两分) is a digit only in spoken numbers
        digits = spoken_digits(text)
        stars = int(digits) if len(digits) == 1 else None
    return stars if stars is not None and 1 <= stars <= 5 else None


class CallbackSession:
    def __init__(
        self,
        line: CallLine,
        engines: VoiceEngines,
        config: CallConfig,
        script: CallbackScript,
        desk: CallbackDesk,
        on_event: Callable[[ev.CallEvent], None] | None = None,
    ) -> None:
        self.line = line
        self.engines = engines
        self.config = config
        self.script = script
        self.desk = desk
        self.result = CallbackResult()
        self._on_event = on_event
        self._listener = Listener(
            rate=line.rate,
            vad=engines.vad,
            recognizer=engines.recognizer,
            endpointing=config.endpointing,
            emit=self._emit,
        )
        self._listener.listen_for(RATING_HINTS if script.asks_rating else ALWAYS, careful=False)
        self._speaker = Speaker(line, engines.synthesizer, self._emit)
        self._log = CallLog(engines.recorder, line.call_id, self._speaker)
        self._silent_ms = 0
        self._misses = 0
        self._answer_queued = False
        self._countdown: int | None = None  # events queued when the answer finished playing

    @property
    def _asking(self) -> bool:
        return self.script.asks_rating and self.result.rating is None

    async def run(self) -> CallbackResult:
        """Run the call back until it ends; never raises for one call's trouble."""
        recorder = self.engines.recorder
        await self._log.store(
            recorder.start_call, self.line.call_id, self.line.caller, f"{self.line.kind}-callback"
        )
        self._emit(ev.CallStarted(self.line.caller))
        try:
            await self._open()
            while self.result.ended is None:
                await self._watch_answer()
                event = await self._next_event()
                if isinstance(event, Hangup):
                    self.result.ended = CallEndReason.caller_hangup
                    break
                if event is not None:
                    await self._count_down()
                await self._handle(event)
        except asyncio.CancelledError:
            self.result.ended = self.result.ended or CallEndReason.cancelled
            raise
        except Exception:
            log.exception("call back %s failed", self.line.call_id)
            self.result.ended = CallEndReason.error
        finally:
            unfinished = await self._listener.hung_up()
            if unfinished is not None:
                await self._log.turn(unfinished[0], unfinished[1], None, "", [], [])
            ended = self.result.ended or CallEndReason.error
            self._emit(ev.CallEnded(ended))
            await self._log.store(recorder.end_call, self.line.call_id, ended)
        return self.result

    async def _next_event(self) -> InboundEvent | None:
        try:
            return await asyncio.wait_for(self.line.inbound.get(), IDLE_WAIT_S)
        except TimeoutError:
            return None

    async def _handle(self, event: InboundEvent | None) -> None:
        if event is None:
            await self._silence(round(IDLE_WAIT_S * 1000))
        elif isinstance(event, AudioFrame):
            await self._frame(event.pcm)
        elif isinstance(event, Dtmf):
            await self._key(event.digit)

    # --- was the answer heard? ---------------------------------------------------------

    async def _watch_answer(self) -> None:
        """Once the answer has finished playing, the events already queued then decide:
        a hangup among them cut it short (hanging up also drops what was queued)."""
        if self.result.told or not self._answer_queued or self.line.playing:
            return
        if self._countdown is None:
            self._countdown = self.line.inbound.qsize()
        if self._countdown <= 0:
            await self._heard_answer()

    async def _count_down(self) -> None:
        if self._countdown is not None and not self.result.told:
            self._countdown -= 1
            if self._countdown <= 0:
                await self._heard_answer()

    async def _heard_answer(self) -> None:
        """Told: the answer played to its end with the citizen on the line, or they
        answered us (a key, words) after it, or we got as far as saying goodbye."""
        if self._answer_queued and not self.result.told:
            self.result.told = True
            self._countdown = None
            await self._desk(self.desk.told)

    # --- what we say -------------------------------------------------------------------

    async def _open(self) -> None:
        """Who we are and why we call, the answer, and what we ask next."""
        texts = [render(say) for say in self.script.says]
        if self._asking:
            texts.append(render(Say("utter_callback_ask_rating")))
        else:
            if self.script.status == Status.answered:
                texts.append(render(Say("utter_callback_rate_later")))
            texts.append(render(Say("utter_callback_more")))
        await self._speak_turn(texts, SpokeReason.reply)
        self._answer_queued = True

    async def _speak_turn(
        self,
        texts: Sequence[str],
        reason: SpokeReason,
        caller_audio: Audio | None = None,
        recognized: str = "",
        confidence: float | None = None,
        keys: str = "",
    ) -> None:
        audio = await self._speaker.speak(texts, reason)
        self._silent_ms = 0
        await self._log.turn(caller_audio, recognized, confidence, keys, texts, audio)

    async def _goodbye(self, names: Sequence[str], heard: tuple[Audio | None, str, str]) -> None:
        texts = [render(Say(name)) for name in names]
        await self._speak_turn(texts, SpokeReason.goodbye, heard[0], heard[1], keys=heard[2])
        await self._hang_up(CallEndReason.goodbye)

    async def _hang_up(self, reason: CallEndReason) -> None:
        await self._heard_answer()
        await self.line.wait_played()
        await self.line.hangup()
        self.result.ended = reason

    # --- what the citizen does ---------------------------------------------------------

    async def _frame(self, pcm: bytes) -> None:
        try:
            heard = await self._listener.frame(pcm)
            if heard is Heard.SPEECH_STARTED:
                self._speaker.interrupt()
                self._emit(ev.SpeechStarted())
                self._silent_ms = 0
                await self._listener.start_turn()
            elif heard is Heard.TURN_ENDED:
                utterance = self._listener.end_turn()
                self._speaker.caller_finished()
                self._emit(ev.TurnEnded(utterance.audio.duration_s))
                words = await utterance.transcript()
                self._emit(ev.Recognized(words.text, words.confidence))
                await self._heard(words.text, words.confidence, utterance.audio)
            elif heard is Heard.QUIET:
                await self._silence(FRAME_MS)
            elif heard is Heard.SOUND:
                self._silent_ms = 0
        except RecognitionFailed as failure:
            log.warning("recogniser failed on call back %s: %r", self.line.call_id, failure.cause)
            self._emit(ev.PipelineFailed("stt-failed"))
            self._listener.start_over()
            await self._hand_over("", None)

    async def _heard(self, text: str, confidence: float, audio: Audio) -> None:
        await self._heard_answer()
        plain = _NOT_WORDS.sub("", text)
        if not plain or confidence < self.config.min_confidence:
            await self._miss(audio, text, "utter_voice_not_heard")
        elif any(word in plain for word in HANDOFF_WORDS):
            await self._hand_over(text, audio)
        elif any(word in plain for word in SLOWER_WORDS):
            self._speaker.slow_down()
            await self._repeat(audio, text)
        elif any(word in plain for word in REPEAT_WORDS):
            await self._repeat(audio, text)
        elif self._asking:
            stars = rating_in(plain)
            if stars is None:
                await self._miss(audio, text, "utter_rating_invalid")
            else:
                await self._rate(stars, (audio, text, ""))
        else:
            await self._goodbye(["utter_callback_goodbye"], (audio, text, ""))

    async def _key(self, digit: str) -> None:
        self._speaker.interrupt()
        self._silent_ms = 0
        self._emit(ev.KeysEntered(digit))
        await self._heard_answer()
        if digit == "0":
            await self._hand_over("", None, keys="0")
        elif digit == "*":
            await self._repeat(None, "", keys="*")
        elif self._asking and digit in RATING_KEYS:
            await self._rate(int(digit), (None, "", digit))

    async def _silence(self, ms: int) -> None:
        if self.line.playing:
            self._silent_ms = 0
            return
        self._silent_ms += ms
        if self._silent_ms < self.config.reprompt_after_s * 1000:
            return
        self._silent_ms = 0
        self._emit(ev.Reprompted(self._misses + 1))
        if self._asking:
            await self._miss(None, "", "utter_callback_rating_again")
        else:
            await self._goodbye(["utter_callback_goodbye"], (None, "", ""))

    async def _miss(self, audio: Audio | None, text: str, prompt: str) -> None:
        """Not an answer we can use (unclear, silent): ask again, then let it be."""
        self._misses += 1
        if self._misses > MAX_MISSES:
            unrated = "utter_callback_goodbye_unrated" if self._asking else "utter_callback_goodbye"
            await self._goodbye([unrated], (audio, text, ""))
            return
        reason = SpokeReason.reprompt if audio is None else SpokeReason.not_heard
        await self._speak_turn([render(Say(prompt))], reason, audio, text)

    async def _repeat(self, audio: Audio | None, text: str, keys: str = "") -> None:
        texts, played = await self._speaker.repeat()
        self._silent_ms = 0
        await self._log.turn(audio, text, None, keys, texts, played)

    async def _rate(self, stars: int, heard: tuple[Audio | None, str, str]) -> None:
        if await self._desk(self.desk.rate, stars):
            self.result.rating = stars
            thanks = render(Say("utter_rating_thanks", {"stars": str(stars)}))
            texts = [thanks, render(Say("utter_callback_goodbye"))]
            await self._speak_turn(texts, SpokeReason.goodbye, heard[0], heard[1], keys=heard[2])
            await self._hang_up(CallEndReason.goodbye)
        else:
            await self._goodbye(["utter_callback_goodbye"], heard)

    async def _hand_over(self, text: str, audio: Audio | None, keys: str = "") -> None:
        """转人工, as on any call: staff see the request; transferred when a staff line is
        configured, otherwise told that staff will call."""
        self.result.handed_over = True
        await self._desk(self.desk.hand_over, text)
        texts = [render(Say("utter_handoff"))]
        await self._speak_turn(texts, SpokeReason.reply, audio, text, keys=keys)
        await self.line.wait_played()
        transferred = False
        if self.config.handoff_uri:
            transferred = await self.line.transfer(self.config.handoff_uri)
        self._emit(ev.HandedOver(transferred))
        if transferred:
            await self._heard_answer()
            self.result.ended = CallEndReason.handoff
            return
        await self._speak_turn([render(Say("utter_voice_callback"))], SpokeReason.goodbye)
        await self._hang_up(CallEndReason.handoff)

    # --- bookkeeping -------------------------------------------------------------------

    async def _desk(self, method: Callable[..., T], *args: object) -> T | None:
        try:
            return await asyncio.to_thread(method, *args)
        except Exception:  # the citizen still hears us; the log says what was not stored
            log.exception("call back %s could not update its ticket", self.line.call_id)
            return None

    def _emit(self, event: ev.CallEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)
