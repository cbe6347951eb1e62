"""Our side of one call: everything we say, and what the caller may ask about it.

The speaker synthesises sentence by sentence and queues each on the line as soon as it is
ready, so the caller hears the first words while the rest is still being made. It keeps
what it said last (with the audio, so "再说一遍" or ``*`` replays it without synthesising
again), speaks slowly for the rest of the call once asked to, stops at once when the
caller barges in, and measures how long the caller waited for our first audio after they
finished a turn (the latency every transcript turn records).

What to say, and when, is the call session's business.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Iterator, Sequence
from time import monotonic

from liangwang.wording import Say, render
from voice import events as ev
from voice.audio import Audio
from voice.errors import PipelineError
from voice.events import SpokeReason
from voice.line import CallLine
from voice.ports import SpeechSynthesizer
from voice.tts import speak_sentences

log = logging.getLogger(__name__)

# Said about the conversation, not in it: "repeat" afterwards still repeats the real answer.
ASIDES = frozenset({SpokeReason.not_heard, SpokeReason.slower})


class Speaker:
    def __init__(
        self,
        line: CallLine,
        synthesizer: SpeechSynthesizer,
        emit: Callable[[ev.CallEvent], None],
    ) -> None:
        self._line = line
        self._synthesizer = synthesizer
        self._emit = emit
        self.slow = False  # the caller asked us to speak slowly: for the rest of the call
        # What "repeat" says again: the texts, their audio, and whether it was slow.
        self._last_said: list[str] = []
        self._last_audio: list[Audio] = []
        self._last_slow = False
        self._turn_ended_at: float | None = None
        self._latency_ms: int | None = None

    def interrupt(self) -> None:
        """The caller spoke or pressed a key: stop our playback at once (barge-in)."""
        if self._line.playing:
            self._line.stop_playback()
            self._emit(ev.BargeIn())

    def slow_down(self) -> None:
        self.slow = True
        self._emit(ev.SlowedDown())

    def caller_finished(self) -> None:
        """The caller finished a turn (spoken or typed): time their wait for our answer."""
        self._turn_ended_at = monotonic()

    def take_latency(self) -> int | None:
        """Milliseconds from the caller's last turn to our first audio, once per turn."""
        latency, self._latency_ms = self._latency_ms, None
        return latency

    async def speak(self, texts: Sequence[str], reason: SpokeReason) -> list[Audio]:
        """Synthesise sentence by sentence and queue each as soon as it is ready, so the
        caller hears the first words while the rest is still being made."""
        self._emit(ev.Spoke(tuple(texts), reason))
        spoken: list[Audio] = []
        acted = self._line.inbound.caller_acted
        acted.clear()  # only what the caller does from now on stops this
        for text in texts:
            sentences = speak_sentences(self._synthesizer, text, slow=self.slow)
            while not acted.is_set():
                try:
                    audio = await self._next_clip_unless(acted, sentences)
                except PipelineError as exc:
                    log.warning("speech synthesis failed on call %s: %s", self._line.call_id, exc)
                    self._emit(ev.PipelineFailed(exc.code))
                    break
                if audio is None:
                    break
                await self._line.play(audio)
                if not spoken:
                    self._first_audio_queued()
                spoken.append(audio)
        self._last_said, self._last_audio, self._last_slow = list(texts), spoken, self.slow
        return spoken

    async def say(self, names: Sequence[str], reason: SpokeReason) -> tuple[list[str], list[Audio]]:
        """Speak our own domain responses (the line's prompts, not the dialogue's)."""
        texts = [render(Say(name)) for name in names]
        last = self._last_said, self._last_audio, self._last_slow
        audio = await self.speak(texts, reason)
        if reason in ASIDES:
            self._last_said, self._last_audio, self._last_slow = last
        return texts, audio

    async def repeat(self) -> tuple[list[str], list[Audio]]:
        """Say the last thing again: the same audio, unless the speed has changed since."""
        texts = self._last_said
        if self.slow != self._last_slow or not self._last_audio:
            return texts, await self.speak(texts, SpokeReason.repeat)
        self._emit(ev.Spoke(tuple(texts), SpokeReason.repeat))
        for index, clip in enumerate(self._last_audio):
            await self._line.play(clip)
            if index == 0:
                self._first_audio_queued()
        return texts, self._last_audio

    async def _next_clip_unless(
        self, acted: asyncio.Event, sentences: Iterator[Audio]
    ) -> Audio | None:
        """The next sentence, or None once the caller pressed a key or hung up meanwhile:
        the sentence being made is left to finish in its thread, unheard."""
        clip = asyncio.ensure_future(asyncio.to_thread(self._next_clip, sentences))
        caller = asyncio.ensure_future(acted.wait())
        await asyncio.wait({clip, caller}, return_when=asyncio.FIRST_COMPLETED)
        caller.cancel()
        if clip.done():
            return clip.result()
        clip.add_done_callback(_forget)
        return None

    def _next_clip(self, sentences: Iterator[Audio]) -> Audio | None:
        """The next sentence, already at the line's rate: resampling is real work, done
        here in the worker thread so the event loop keeps every call's audio on time."""
        audio = next(sentences, None)
        return None if audio is None else audio.resample(self._line.rate)

    def _first_audio_queued(self) -> None:
        if self._turn_ended_at is None:
            return
        self._latency_ms = round((monotonic() - self._turn_ended_at) * 1000)
        self._turn_ended_at = None
        self._emit(ev.FirstAudio())


def _forget(clip: asyncio.Future[Audio | None]) -> None:
    """A sentence nobody will hear: its failure, if any, is not worth a warning."""
    if not clip.cancelled():
        clip.exception()
