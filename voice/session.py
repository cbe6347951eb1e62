"""One phone call: listen, recognise, ask the dialogue, speak — patiently, for older callers.

The session is driven by what the line delivers: 20 ms audio frames and keypad presses.
Every timer (end of speech, reprompt, keypad pause) counts frames, so tests that feed
frames get exact, repeatable behaviour; when the line goes quiet (no frames at all) the
session counts wall-clock time as silence instead.

Turn-taking:
- caller speech while we talk stops our playback at once (barge-in);
- a patient silence ends the caller's turn (``end_silence_ms``); once the words so far
  are decoded, a finished request ends sooner and a hesitation waits longer
  (voice/endpointing.py);
- silence after our prompt: a gentle reprompt, twice, then a person is offered, then a
  polite goodbye;
- "再说一遍" or ``*`` repeats; "说慢一点" slows our speech for the rest of the call;
- key ``0`` or "转人工" hands over to a person; an engine failure apologises and hands over.
Nothing the caller said is lost: every turn goes to the transcript recorder, and a
complaint being taken down is saved as a draft by the dialogue after every answer.

The work is shared out so that each part can be read alone: the ``Listener``
(voice/listener.py) turns frames into finished utterances, the ``Speaker``
(voice/speaker.py) says things and remembers what it said, and a ``ReplyPlan``
(voice/reply_plan.py) reads what a dialogue reply asks of the line. The session keeps the
order of things: what a turn or a key means, when to reprompt, hand over or hang up, and
the transcript.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from liangwang.conversation import Channel, VoiceCue
from liangwang.dialogue import NEW_SESSION, DialogueEngine, DialogueError, UserTurn
from liangwang.handoff import Reason
from liangwang.wording import Say, render, responses
from voice import events as ev
from voice.audio import FRAME_MS, Audio
from voice.call_log import CallLog
from voice.errors import PipelineError
from voice.events import CallEndReason, SpokeReason
from voice.hints import RecognitionHints
from voice.keypad import HANDOFF, HandOver, KeyAction, Keypad, RepeatLast, SendText
from voice.line import AudioFrame, CallLine, Dtmf, Hangup, InboundEvent
from voice.listener import Endpointing, Heard, Listener, RecognitionFailed
from voice.ports import (
    SpeechRecognizer,
    SpeechSynthesizer,
    TranscriptRecorder,
    VoiceActivityDetector,
)
from voice.reply_plan import ReplyPlan, keypad_menu
from voice.speaker import Speaker

log = logging.getLogger(__name__)

GREETING = "/greet"
# Said by the caller, handled on the line itself: no dialogue round trip, and "slower"
# must change how *we* speak.
REPEAT_WORDS = ("再说一遍", "再说一次", "重复一遍", "重复一下", "没听清", "再讲一遍")
SLOWER_WORDS = ("说慢一点", "说慢点", "慢一点", "慢点说", "慢一些", "太快了", "讲慢点")
_NOT_WORDS = re.compile(r"[\s\W_]+")
IDLE_WAIT_S = 0.2  # no frame for this long: count the time as silence


@dataclass(frozen=True)
class CallConfig:
    # Silence that ends a turn. The default applies until the words so far are known
    # (voice/endpointing.py): then a finished request ends after the quick patience, words
    # that promise more wait the hesitant one.
    end_silence_ms: int = 1000
    quick_end_silence_ms: int = 600
    hesitant_end_silence_ms: int = 2000
    reprompt_after_s: float = 8.0
    max_turn_s: float = 30.0
    digit_timeout_s: float = 3.0
    handoff_uri: str = ""
    # Below this recogniser confidence the words are taken as not heard (asked again).
    min_confidence: float = 0.2

    @property
    def endpointing(self) -> Endpointing:
        """The listener's share: when a turn is over."""
        return Endpointing(
            end_silence_ms=self.end_silence_ms,
            quick_end_silence_ms=self.quick_end_silence_ms,
            hesitant_end_silence_ms=self.hesitant_end_silence_ms,
            max_turn_ms=round(self.max_turn_s * 1000),
            min_confidence=self.min_confidence,
        )


@dataclass
class VoiceEngines:
    """What every call shares: engines are loaded once per process."""

    recognizer: SpeechRecognizer
    synthesizer: SpeechSynthesizer
    vad: VoiceActivityDetector
    dialogue: DialogueEngine
    recorder: TranscriptRecorder
    hints: RecognitionHints = field(default_factory=RecognitionHints)


def _ticks(seconds: float) -> int:
    return max(1, round(seconds * 1000 / FRAME_MS))


def _plain(text: str) -> str:
    return _NOT_WORDS.sub("", text)


class CallSession:
    def __init__(
        self,
        line: CallLine,
        engines: VoiceEngines,
        config: CallConfig,
        on_event: Callable[[ev.CallEvent], None] | None = None,
    ) -> None:
        self.line = line
        self.engines = engines  # read at each use: a test may swap the dialogue
        self.config = config
        self._on_event = on_event
        self._listener = Listener(
            rate=line.rate,
            vad=engines.vad,
            recognizer=engines.recognizer,
            endpointing=config.endpointing,
            emit=self._emit,
        )
        self._speaker = Speaker(line, engines.synthesizer, self._emit)
        self._log = CallLog(engines.recorder, line.call_id, self._speaker)
        self._keypad = Keypad(timeout_ticks=_ticks(config.digit_timeout_s))
        self._silent_ticks = 0  # silence since we or the caller last did anything
        self._reprompts = 0  # reprompts since the caller last answered
        self._ended: CallEndReason | None = None
        self.conversation_id = Channel.phone.conversation_id(line.caller or line.call_id)

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> CallEndReason:
        """Run the call until it ends; returns why it ended. Never raises for one call's
        trouble: the caller hears an apology and is handed to a person."""
        await self._log.store(
            self.engines.recorder.start_call, self.line.call_id, self.line.caller, self.line.kind
        )
        self._emit(ev.CallStarted(self.line.caller))
        try:
            # Each call is a new dialogue session: an unfinished form from a dropped call must
            # not swallow the next call's first words. Drafts are kept apart, by caller, and
            # offered back.
            with contextlib.suppress(DialogueError):  # the greeting meets it and apologises
                await self.engines.dialogue.send(self._user_turn(NEW_SESSION))
            await self._exchange(GREETING, keys="", caller_audio=None, recognized="")
            while self._ended is None:
                event = await self._next_event()
                if event is None:
                    await self._silence(_ticks(IDLE_WAIT_S))
                elif isinstance(event, AudioFrame):
                    await self._frame(event.pcm)
                elif isinstance(event, Dtmf):
                    await self._key(event.digit)
                elif isinstance(event, Hangup):
                    self._ended = CallEndReason.caller_hangup
        except asyncio.CancelledError:
            self._ended = self._ended or CallEndReason.cancelled
            raise
        except Exception:  # one call's bug must not take the line down
            log.exception("call %s failed", self.line.call_id)
            self._ended = CallEndReason.error
        finally:
            await self._finish_turn_on_hangup()
            self._emit(ev.CallEnded(self._ended or CallEndReason.error))
            await self._log.store(self.engines.recorder.end_call, self.line.call_id, self._ended)
        return self._ended or CallEndReason.error

    async def _next_event(self) -> InboundEvent | None:
        try:
            return await asyncio.wait_for(self.line.inbound.get(), IDLE_WAIT_S)
        except TimeoutError:
            return None

    # --- audio -------------------------------------------------------------------------

    async def _frame(self, pcm: bytes) -> None:
        try:
            heard = await self._listener.frame(pcm)
        except RecognitionFailed as failure:
            await self._engine_failed(failure.cause)
            return
        if heard is Heard.SPEECH_STARTED:
            typed = self._keypad.flush()  # keys pressed before speaking come first
            if typed is not None:
                await self._key_action(typed)
            await self._start_turn()
        elif heard is Heard.QUIET or heard is Heard.SOUND:
            await self._silence(1, heard_nothing=heard is Heard.QUIET)
        elif heard is Heard.TURN_ENDED:
            await self._end_turn()

    async def _start_turn(self) -> None:
        self._speaker.interrupt()
        self._emit(ev.SpeechStarted())
        self._silent_ticks = 0
        try:
            await self._listener.start_turn()
        except RecognitionFailed as failure:
            await self._engine_failed(failure.cause)

    async def _end_turn(self) -> None:
        utterance = self._listener.end_turn()
        self._speaker.caller_finished()
        self._emit(ev.TurnEnded(utterance.audio.duration_s))
        try:
            transcript = await utterance.transcript()
        except RecognitionFailed as failure:
            await self._engine_failed(failure.cause, caller_audio=utterance.audio)
            return
        self._emit(ev.Recognized(transcript.text, transcript.confidence))
        await self._heard(transcript.text, transcript.confidence, utterance.audio)

    async def _finish_turn_on_hangup(self) -> None:
        """A caller who hangs up mid-sentence: keep what they said in the transcript."""
        unfinished = await self._listener.hung_up()
        if unfinished is not None:
            audio, text = unfinished
            await self._log.turn(audio, text, None, "", [], [])

    async def _silence(self, ticks: int, *, heard_nothing: bool = True) -> None:
        for _ in range(ticks):
            action = self._keypad.tick()
            if action is not None:
                await self._key_action(action)
        if not heard_nothing or self.line.playing or self._keypad.pending:
            self._silent_ticks = 0
            return
        self._silent_ticks += ticks
        if self._silent_ticks >= _ticks(self.config.reprompt_after_s):
            self._silent_ticks = 0
            await self._reprompt()

    # --- what the caller said ----------------------------------------------------------

    async def _heard(self, text: str, confidence: float, audio: Audio) -> None:
        plain = _plain(text)
        if not plain or confidence < self.config.min_confidence:
            # A guess is not an answer: line noise under a yes/no question comes out of
            # Whisper as 对 with a few per cent confidence, and must not confirm anything.
            await self._say(
                ["utter_voice_not_heard"], SpokeReason.not_heard, audio, text, confidence
            )
            return
        self._reprompts = 0
        if any(word in plain for word in SLOWER_WORDS):
            self._speaker.slow_down()
            await self._say(["utter_voice_slower"], SpokeReason.slower, audio, text, confidence)
            await self._repeat(record=False)
        elif any(word in plain for word in REPEAT_WORDS):
            await self._repeat(caller_audio=audio, recognized=text, confidence=confidence)
        else:
            await self._exchange(
                text, keys="", caller_audio=audio, recognized=text, conf=confidence
            )

    async def _key(self, digit: str) -> None:
        self._speaker.interrupt()
        self._silent_ticks = 0
        action = self._keypad.press(digit)
        if action is not None:
            await self._key_action(action)

    async def _key_action(self, action: KeyAction) -> None:
        self._reprompts = 0
        if isinstance(action, RepeatLast):
            self._emit(ev.KeysEntered("*"))
            await self._repeat(keys="*")
        elif isinstance(action, HandOver):
            self._emit(ev.KeysEntered("0"))
            await self._exchange(HANDOFF, keys="0", caller_audio=None, recognized="")
        elif isinstance(action, SendText):
            self._emit(ev.KeysEntered(action.keys))
            self._speaker.caller_finished()
            await self._exchange(action.text, keys=action.keys, caller_audio=None, recognized="")

    # --- talking -----------------------------------------------------------------------

    async def _exchange(
        self,
        text: str,
        *,
        keys: str,
        caller_audio: Audio | None,
        recognized: str,
        conf: float | None = None,
    ) -> None:
        """Send one message to the dialogue and speak its replies."""
        self._emit(ev.SentToDialogue(text))
        try:
            replies = await self.engines.dialogue.send(self._user_turn(text, confidence=conf))
        except DialogueError as exc:
            log.warning("dialogue failed on call %s: %s", self.line.call_id, exc)
            self._emit(ev.PipelineFailed("dialogue-failed"))
            await self._apologise_and_hand_over(caller_audio, recognized, conf, keys)
            return
        plan = ReplyPlan.from_messages(replies)
        self._keypad.choices = plan.choices
        self._keypad.expects_number = plan.expects_number
        self._listener.listen_for(
            plan.hints(self.engines.hints),
            careful=plan.careful,
            vocabulary=plan.vocabulary(self.engines.hints),
        )
        audio = await self._speak(plan.texts, SpokeReason.reply)
        await self._log.turn(caller_audio, recognized, conf, keys, plan.texts, audio)
        if plan.wants(VoiceCue.transfer):
            await self._hand_over()
        elif plan.wants(VoiceCue.hangup):
            await self._hang_up(CallEndReason.goodbye)

    async def _speak(self, texts: Sequence[str], reason: SpokeReason) -> list[Audio]:
        audio = await self._speaker.speak(texts, reason)
        self._silent_ticks = 0  # the caller's silence counts from the end of what we said
        return audio

    async def _say(
        self,
        names: Sequence[str],
        reason: SpokeReason,
        caller_audio: Audio | None = None,
        recognized: str = "",
        confidence: float | None = None,
        keys: str = "",
    ) -> None:
        """Speak our own domain responses (no dialogue turn) and record the exchange."""
        texts, audio = await self._speaker.say(names, reason)
        self._silent_ticks = 0
        await self._log.turn(caller_audio, recognized, confidence, keys, texts, audio)

    async def _repeat(
        self,
        *,
        record: bool = True,
        caller_audio: Audio | None = None,
        recognized: str = "",
        confidence: float | None = None,
        keys: str = "",
    ) -> None:
        texts, audio = await self._speaker.repeat()
        self._silent_ticks = 0
        if record:
            await self._log.turn(caller_audio, recognized, confidence, keys, texts, audio)

    async def _reprompt(self) -> None:
        self._reprompts += 1
        self._emit(ev.Reprompted(self._reprompts))
        if self._reprompts <= 2:
            name = "utter_voice_reprompt" if self._reprompts == 1 else "utter_voice_reprompt_again"
            await self._say([name], SpokeReason.reprompt)
        elif self._reprompts == 3:
            # Offer a person, with the same choices the text channels show as buttons. Only
            # the keys change: what to listen for stays as the last reply set it.
            buttons = list(responses()["utter_offer_human"][0].get("buttons", []))
            texts = [render(Say("utter_offer_human")), *keypad_menu(buttons)]
            self._keypad.choices, self._keypad.expects_number = buttons, False
            audio = await self._speak(texts, SpokeReason.reprompt)
            await self._log.turn(None, "", None, "", texts, audio)
        else:
            await self._say(["utter_voice_goodbye_silent"], SpokeReason.goodbye)
            await self._hang_up(CallEndReason.silence)

    # --- ending ------------------------------------------------------------------------

    async def _engine_failed(self, exc: Exception, caller_audio: Audio | None = None) -> None:
        code = exc.code if isinstance(exc, PipelineError) else "stt-failed"
        log.warning("speech engine failed on call %s: %r", self.line.call_id, exc)
        self._emit(ev.PipelineFailed(code))
        self._listener.start_over()
        await self._apologise_and_hand_over(caller_audio, "", None, "")

    async def _apologise_and_hand_over(
        self, caller_audio: Audio | None, recognized: str, conf: float | None, keys: str
    ) -> None:
        await self._say(
            ["utter_voice_error"], SpokeReason.apology, caller_audio, recognized, conf, keys
        )
        # Ask the dialogue to record the handoff for staff; if it is down, the transcript
        # still holds everything the caller said.
        with contextlib.suppress(DialogueError):
            await self.engines.dialogue.send(
                self._user_turn(HANDOFF, handoff_reason=Reason.engine_failure)
            )
        await self._hand_over()

    async def _hand_over(self) -> None:
        await self.line.wait_played()
        transferred = False
        if self.config.handoff_uri:
            transferred = await self.line.transfer(self.config.handoff_uri)
        self._emit(ev.HandedOver(transferred))
        if transferred:
            self._ended = CallEndReason.handoff
            return
        await self._say(["utter_voice_callback"], SpokeReason.goodbye)
        await self._hang_up(CallEndReason.handoff)

    async def _hang_up(self, reason: CallEndReason) -> None:
        await self.line.wait_played()
        await self.line.hangup()
        self._ended = reason

    # --- bookkeeping -------------------------------------------------------------------

    def _user_turn(
        self, text: str, handoff_reason: Reason | None = None, confidence: float | None = None
    ) -> UserTurn:
        metadata: dict[str, object] = {"caller": self.line.caller, "call_id": self.line.call_id}
        if confidence is not None:  # heard, not keyed: how sure the recogniser was
            metadata["confidence"] = round(confidence, 3)
        if handoff_reason is not None:  # why staff see this call in the handoff queue
            metadata["handoff_reason"] = handoff_reason
        return UserTurn(self.conversation_id, text, Channel.phone, metadata)

    def _emit(self, event: ev.CallEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)
