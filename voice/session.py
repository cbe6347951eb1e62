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
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from time import monotonic

from liangwang.conversation import BotMessage
from liangwang.dialogue import DialogueEngine, DialogueError, UserTurn
from liangwang.guide import Say
from liangwang.wording import render, responses
from voice import events as ev
from voice.audio import FRAME_MS, Audio
from voice.endpointing import CAREFUL_EXPECTATIONS, Patience, judge
from voice.errors import PipelineError
from voice.hints import RecognitionHints
from voice.keypad import HANDOFF, HandOver, KeyAction, Keypad, RepeatLast, SendText
from voice.line import AudioFrame, CallLine, Dtmf, Hangup, InboundEvent
from voice.ports import (
    PreviewStream,
    RecognizerStream,
    SpeechRecognizer,
    SpeechSynthesizer,
    Transcript,
    TranscriptRecorder,
    TurnRecord,
    VoiceActivityDetector,
)
from voice.tts import speak_sentences
from voice.vad import EndOfTurnDetector, TurnEvent

log = logging.getLogger(__name__)

CHANNEL = "phone"
GREETING = "/greet"
# Each call is a new dialogue session: an unfinished form from a dropped call must not
# swallow the next call's first words. Drafts are kept apart, by caller, and offered back.
NEW_SESSION = "/session_start"
# Said by the caller, handled on the line itself: no dialogue round trip, and "slower"
# must change how *we* speak.
REPEAT_WORDS = ("再说一遍", "再说一次", "重复一遍", "重复一下", "没听清", "再讲一遍")
SLOWER_WORDS = ("说慢一点", "说慢点", "慢一点", "慢点说", "慢一些", "太快了", "讲慢点")
_NOT_WORDS = re.compile(r"[\s\W_]+")
IDLE_WAIT_S = 0.2  # no frame for this long: count the time as silence
PREROLL_FRAMES = 15  # 300 ms of audio kept from before speech was detected
# Silence after which a decode-at-the-end engine starts decoding: most of its work is then
# done while we still wait to be sure the caller has finished, and its words set how long
# that wait is. Pauses between words are shorter; a decode overtaken by more speech is
# dropped (it costs CPU, not time).
SPECULATE_MS = 150
# Careful answers (addresses, descriptions, confirmations) wait at least the default
# patience anyway; they are decoded with a longer ending, because Whisper base hears a
# name's last syllable better with it (南京西路 as 男君西路 when the audio stops 150 ms
# after it, rightly from 200 ms on).
CAREFUL_SPECULATE_MS = 250


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

    def end_silence(self, patience: Patience) -> int:
        """Milliseconds of silence for ``patience``; the default stays between the other two."""
        if patience is Patience.QUICK:
            return min(self.quick_end_silence_ms, self.end_silence_ms)
        if patience is Patience.HESITANT:
            return max(self.hesitant_end_silence_ms, self.end_silence_ms)
        return self.end_silence_ms


@dataclass
class VoiceEngines:
    """What every call shares: engines are loaded once per process."""

    recognizer: SpeechRecognizer
    synthesizer: SpeechSynthesizer
    vad: VoiceActivityDetector
    dialogue: DialogueEngine
    recorder: TranscriptRecorder
    hints: RecognitionHints = field(default_factory=RecognitionHints)


@dataclass
class _Turn:
    stream: RecognizerStream
    frames: list[bytes] = field(default_factory=list)
    # Decoding started during the closing silence (see SPECULATE_MS); dropped when the
    # caller speaks again, used when the turn ends with only silence after it.
    preview: asyncio.Task[Transcript] | None = None
    # Whether the preview's words have set this silence's patience yet.
    judged: bool = False


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
        self.engines = engines
        self.config = config
        self._on_event = on_event
        self._detector = EndOfTurnDetector(
            end_silence_ms=config.end_silence_ms, max_turn_ms=round(config.max_turn_s * 1000)
        )
        self._keypad = Keypad(timeout_ticks=_ticks(config.digit_timeout_s))
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self._turn: _Turn | None = None
        self._turn_index = 0
        self._silent_ticks = 0
        self._reprompts = 0
        self._slow = False
        self._last_said: list[str] = []
        self._last_audio: list[Audio] = []
        self._last_slow = False
        self._turn_ended_at: float | None = None
        self._latency_ms: int | None = None
        self._hints: tuple[str, ...] = ()  # what the caller is likely to answer next
        self._careful = False  # the answer must not be cut short (voice/endpointing.py)
        self._ended: str | None = None
        self.conversation_id = f"{CHANNEL}:{line.caller or line.call_id}"

    # --- the loop ----------------------------------------------------------------------

    async def run(self) -> str:
        """Run the call until it ends; returns why it ended. Never raises for one call's
        trouble: the caller hears an apology and is handed to a person."""
        await self._record(
            self.engines.recorder.start_call, self.line.call_id, self.line.caller, self.line.kind
        )
        self._emit(ev.CallStarted(self.line.caller))
        try:
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
                    self._ended = "caller-hangup"
        except asyncio.CancelledError:
            self._ended = self._ended or "cancelled"
            raise
        except Exception:  # one call's bug must not take the line down
            log.exception("call %s failed", self.line.call_id)
            self._ended = "error"
        finally:
            await self._finish_turn_on_hangup()
            self._emit(ev.CallEnded(self._ended or "error"))
            await self._record(self.engines.recorder.end_call, self.line.call_id, self._ended)
        return self._ended or "error"

    async def _next_event(self) -> InboundEvent | None:
        try:
            return await asyncio.wait_for(self.line.inbound.get(), IDLE_WAIT_S)
        except TimeoutError:
            return None

    # --- audio -------------------------------------------------------------------------

    async def _frame(self, pcm: bytes) -> None:
        speech = self.engines.vad.is_speech(pcm, self.line.rate)
        signal = self._detector.push(speech)
        if self._turn is None:
            self._preroll.append(pcm)
            if signal is TurnEvent.SPEECH_STARTED:
                typed = self._keypad.flush()  # keys pressed before speaking come first
                if typed is not None:
                    await self._key_action(typed)
                await self._start_turn()
            else:
                await self._silence(1, heard_nothing=not speech)
            return
        self._turn.frames.append(pcm)
        await self._feed(pcm)
        if self._turn is None:
            return
        if signal is not TurnEvent.TURN_ENDED:
            self._speculate(self._turn)
            signal = self._judge_patience(self._turn)
        if signal is TurnEvent.TURN_ENDED:
            await self._end_turn()

    def _speculate(self, turn: _Turn) -> None:
        quiet_ms = self._detector.silence_frames * FRAME_MS
        if quiet_ms == 0:
            turn.preview = None  # the caller went on: that decode is out of date
            if turn.judged:
                turn.judged = False
                self._detector.set_patience(self.config.end_silence_ms)
        elif (
            quiet_ms >= (CAREFUL_SPECULATE_MS if self._careful else SPECULATE_MS)
            and turn.preview is None
            and isinstance(turn.stream, PreviewStream)
        ):
            turn.preview = asyncio.create_task(asyncio.to_thread(turn.stream.preview))

    def _judge_patience(self, turn: _Turn) -> TurnEvent:
        """Once the preview's words are known, they set how long this silence may last."""
        preview = turn.preview
        if turn.judged or preview is None or not preview.done() or preview.exception():
            return TurnEvent.NONE  # a failed decode fails at the end of the turn, as usual
        turn.judged = True
        heard = preview.result()
        words = heard.text if heard.confidence >= self.config.min_confidence else ""
        patience = judge(words, careful=self._careful)
        ms = self.config.end_silence(patience)
        self._emit(ev.PatienceSet(patience.value, ms))
        return self._detector.set_patience(ms)

    async def _start_turn(self) -> None:
        if self.line.playing:
            self.line.stop_playback()
            self._emit(ev.BargeIn())
        self._emit(ev.SpeechStarted())
        self._silent_ticks = 0
        try:
            stream = await asyncio.to_thread(
                self.engines.recognizer.start, self.line.rate, self._hints
            )
        except Exception as exc:
            await self._engine_failed(exc)
            return
        self._turn = _Turn(stream)
        preroll, self._preroll = list(self._preroll), deque(maxlen=PREROLL_FRAMES)
        for pcm in preroll:
            if self._turn is None:  # the recogniser failed on the way
                return
            self._turn.frames.append(pcm)
            await self._feed(pcm)

    async def _feed(self, pcm: bytes) -> None:
        assert self._turn is not None
        try:
            await asyncio.to_thread(self._turn.stream.accept, pcm)
        except Exception as exc:
            self._turn = None
            await self._engine_failed(exc)

    async def _end_turn(self) -> None:
        assert self._turn is not None
        turn, self._turn = self._turn, None
        self._detector.reset()
        caller_audio = Audio(b"".join(turn.frames), self.line.rate)
        self._turn_ended_at = monotonic()
        self._emit(ev.TurnEnded(caller_audio.duration_s))
        try:
            if turn.preview is not None:
                transcript = await turn.preview  # only silence came after it
            else:
                transcript = await asyncio.to_thread(turn.stream.finish)
        except Exception as exc:
            await self._engine_failed(exc, caller_audio=caller_audio)
            return
        self._emit(ev.Recognized(transcript.text, transcript.confidence))
        await self._heard(transcript.text, transcript.confidence, caller_audio)

    async def _finish_turn_on_hangup(self) -> None:
        """A caller who hangs up mid-sentence: keep what they said in the transcript."""
        if self._turn is None:
            return
        turn, self._turn = self._turn, None
        audio = Audio(b"".join(turn.frames), self.line.rate)
        try:
            text = (await asyncio.to_thread(turn.stream.finish)).text
        except Exception:
            text = ""
        await self._record_turn(audio, text, None, "", [], [])

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
            await self._say_local(["utter_voice_not_heard"], "not-heard", audio, text, confidence)
            return
        self._reprompts = 0
        if any(word in plain for word in SLOWER_WORDS):
            self._slow = True
            self._emit(ev.SlowedDown())
            await self._say_local(["utter_voice_slower"], "slower", audio, text, confidence)
            await self._repeat(record=False)
        elif any(word in plain for word in REPEAT_WORDS):
            await self._repeat(caller_audio=audio, recognized=text, confidence=confidence)
        else:
            await self._exchange(
                text, keys="", caller_audio=audio, recognized=text, conf=confidence
            )

    async def _key(self, digit: str) -> None:
        if self.line.playing:
            self.line.stop_playback()
            self._emit(ev.BargeIn())
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
            self._turn_ended_at = monotonic()
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
            replies = await self.engines.dialogue.send(self._user_turn(text))
        except DialogueError as exc:
            log.warning("dialogue failed on call %s: %s", self.line.call_id, exc)
            self._emit(ev.PipelineFailed("dialogue-failed"))
            await self._apologise_and_hand_over(caller_audio, recognized, conf, keys)
            return
        texts = [m.text for m in replies if m.text]
        buttons = [b for m in replies for b in m.buttons]
        texts += self._keypad_hint(buttons)
        self._keypad.choices = buttons
        self._keypad.expects_number = _wants(replies, "number")
        expect = next((str(m.custom["expect"]) for m in replies if "expect" in m.custom), None)
        self._careful = expect in CAREFUL_EXPECTATIONS or self._keypad.expects_number
        titles = [str(b.get("title", "")) for b in buttons if b.get("payload") != HANDOFF]
        self._hints = self.engines.hints.for_turn(expect, titles)
        audio = await self._speak(texts, "reply")
        await self._record_turn(caller_audio, recognized, conf, keys, texts, audio)
        if _wants(replies, "transfer"):
            await self._hand_over()
        elif _wants(replies, "hangup"):
            await self._hang_up("goodbye")

    def _keypad_hint(self, buttons: Sequence[dict[str, object]]) -> list[str]:
        if not buttons:
            return []
        parts = [
            render(
                Say(
                    "utter_voice_key_choice", {"key": str(index), "title": str(button.get("title"))}
                )
            )
            for index, button in enumerate(buttons, start=1)
            if button.get("payload") != HANDOFF
        ]
        return [render(Say("utter_voice_keys", {"choices": "".join(parts)}))]

    async def _speak(self, texts: Sequence[str], reason: str) -> list[Audio]:
        """Synthesise sentence by sentence and queue each as soon as it is ready, so the
        caller hears the first words while the rest is still being made."""
        self._emit(ev.Spoke(tuple(texts), reason))
        spoken: list[Audio] = []
        for text in texts:
            sentences = speak_sentences(self.engines.synthesizer, text, slow=self._slow)
            while True:
                try:
                    audio = await asyncio.to_thread(self._next_clip, sentences)
                except PipelineError as exc:
                    log.warning("speech synthesis failed on call %s: %s", self.line.call_id, exc)
                    self._emit(ev.PipelineFailed(exc.code))
                    break
                if audio is None:
                    break
                await self.line.play(audio)
                if not spoken:
                    self._first_audio_queued()
                spoken.append(audio)
        self._last_said, self._last_audio, self._last_slow = list(texts), spoken, self._slow
        self._silent_ticks = 0
        return spoken

    def _next_clip(self, sentences: Iterator[Audio]) -> Audio | None:
        """The next sentence, already at the line's rate: resampling is real work, done
        here in the worker thread so the event loop keeps every call's audio on time."""
        audio = next(sentences, None)
        return None if audio is None else audio.resample(self.line.rate)

    async def _say_local(
        self,
        responses: Sequence[str],
        reason: str,
        caller_audio: Audio | None = None,
        recognized: str = "",
        confidence: float | None = None,
        keys: str = "",
    ) -> None:
        """Speak our own domain responses (no dialogue turn) and record the exchange."""
        texts = [render(Say(name)) for name in responses]
        last = self._last_said, self._last_audio, self._last_slow
        audio = await self._speak(texts, reason)
        if reason in ("not-heard", "slower"):
            # "Repeat" afterwards should still repeat the real answer, not this aside.
            self._last_said, self._last_audio, self._last_slow = last
        await self._record_turn(caller_audio, recognized, confidence, keys, texts, audio)

    async def _repeat(
        self,
        *,
        record: bool = True,
        caller_audio: Audio | None = None,
        recognized: str = "",
        confidence: float | None = None,
        keys: str = "",
    ) -> None:
        texts = self._last_said
        if self._slow != self._last_slow or not self._last_audio:
            audio = await self._speak(texts, "repeat")
        else:
            self._emit(ev.Spoke(tuple(texts), "repeat"))
            for index, clip in enumerate(self._last_audio):
                await self.line.play(clip)
                if index == 0:
                    self._first_audio_queued()
            audio = self._last_audio
            self._silent_ticks = 0
        if record:
            await self._record_turn(caller_audio, recognized, confidence, keys, texts, audio)

    async def _reprompt(self) -> None:
        self._reprompts += 1
        self._emit(ev.Reprompted(self._reprompts))
        if self._reprompts <= 2:
            name = "utter_voice_reprompt" if self._reprompts == 1 else "utter_voice_reprompt_again"
            await self._say_local([name], "reprompt")
        elif self._reprompts == 3:
            # Offer a person, with the same choices the text channels show as buttons.
            buttons = list(responses()["utter_offer_human"][0].get("buttons", []))
            texts = [render(Say("utter_offer_human")), *self._keypad_hint(buttons)]
            self._keypad.choices, self._keypad.expects_number = buttons, False
            audio = await self._speak(texts, "reprompt")
            await self._record_turn(None, "", None, "", texts, audio)
        else:
            await self._say_local(["utter_voice_goodbye_silent"], "goodbye")
            await self._hang_up("silence")

    # --- ending ------------------------------------------------------------------------

    async def _engine_failed(self, exc: Exception, caller_audio: Audio | None = None) -> None:
        code = exc.code if isinstance(exc, PipelineError) else "stt-failed"
        log.warning("speech engine failed on call %s: %r", self.line.call_id, exc)
        self._emit(ev.PipelineFailed(code))
        self._detector.reset()
        await self._apologise_and_hand_over(caller_audio, "", None, "")

    async def _apologise_and_hand_over(
        self, caller_audio: Audio | None, recognized: str, conf: float | None, keys: str
    ) -> None:
        await self._say_local(
            ["utter_voice_error"], "apology", caller_audio, recognized, conf, keys
        )
        # Ask the dialogue to record the handoff for staff; if it is down, the transcript
        # still holds everything the caller said.
        with contextlib.suppress(DialogueError):
            await self.engines.dialogue.send(self._user_turn(HANDOFF))
        await self._hand_over()

    async def _hand_over(self) -> None:
        await self.line.wait_played()
        transferred = False
        if self.config.handoff_uri:
            transferred = await self.line.transfer(self.config.handoff_uri)
        self._emit(ev.HandedOver(transferred))
        if transferred:
            self._ended = "handoff"
            return
        await self._say_local(["utter_voice_callback"], "goodbye")
        await self._hang_up("handoff")

    async def _hang_up(self, reason: str) -> None:
        await self.line.wait_played()
        await self.line.hangup()
        self._ended = reason

    # --- bookkeeping -------------------------------------------------------------------

    def _user_turn(self, text: str) -> UserTurn:
        return UserTurn(
            conversation_id=self.conversation_id,
            text=text,
            channel=CHANNEL,
            metadata={"caller": self.line.caller, "call_id": self.line.call_id},
        )

    def _first_audio_queued(self) -> None:
        if self._turn_ended_at is None:
            return
        self._latency_ms = round((monotonic() - self._turn_ended_at) * 1000)
        self._turn_ended_at = None
        self._emit(ev.FirstAudio())

    def _emit(self, event: ev.CallEvent) -> None:
        if self._on_event is not None:
            self._on_event(event)

    async def _record_turn(
        self,
        caller_audio: Audio | None,
        recognized: str,
        confidence: float | None,
        keys: str,
        reply: Sequence[str],
        reply_audio: Sequence[Audio],
    ) -> None:
        joined = Audio.concat(reply_audio, reply_audio[0].rate) if reply_audio else None
        record = TurnRecord(
            index=self._turn_index,
            caller_audio=caller_audio,
            recognized=recognized,
            confidence=confidence,
            keys=keys,
            reply=tuple(reply),
            reply_audio=joined,
            latency_ms=self._latency_ms,
        )
        self._latency_ms = None
        self._turn_index += 1
        await self._record(self.engines.recorder.add_turn, self.line.call_id, record)

    async def _record(self, method: Callable[..., None], *args: object) -> None:
        try:
            await asyncio.to_thread(method, *args)
        except Exception:  # a full disk must not drop the call; the log says what was lost
            log.exception("could not record call %s", self.line.call_id)


def _wants(replies: Sequence[BotMessage], what: str) -> bool:
    """Domain responses mark what the phone line must do: ``custom: {voice: transfer}``."""
    return any(m.custom.get("voice") == what for m in replies)
