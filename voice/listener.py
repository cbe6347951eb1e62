"""The caller's side of one call: 20 ms audio frames in, finished utterances out.

The listener owns everything needed to hear one turn well:
- the VAD and the end-of-turn detector (voice/vad.py) decide when speech starts and ends;
- a short pre-roll is kept while nobody speaks, so the first syllable, said before the
  detector was sure, still reaches the recogniser;
- with a decode-at-the-end engine (Whisper), decoding starts during the closing silence
  (the preview), so most of the work is done while we still wait to be sure the caller has
  finished;
- the preview's words set how long that silence may last (voice/endpointing.py).

It does not decide what a turn means, and it does not speak: the call session asks it to
start a turn (after handling keys typed just before) and takes the finished utterance.
A recogniser failure is raised as ``RecognitionFailed``, after which the session apologises
and hands over.
"""

from __future__ import annotations

import asyncio
import enum
from collections import deque
from collections.abc import Callable
from dataclasses import dataclass, field

from voice import events as ev
from voice.audio import FRAME_MS, Audio
from voice.endpointing import Patience, judge
from voice.ports import (
    PreviewStream,
    RecognizerStream,
    SpeechRecognizer,
    Transcript,
    VoiceActivityDetector,
)
from voice.vad import EndOfTurnDetector, TurnEvent

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


class RecognitionFailed(Exception):
    """The recogniser failed on this turn (starting, hearing or decoding it)."""

    def __init__(self, cause: Exception) -> None:
        super().__init__(cause)
        self.cause = cause


class Heard(enum.Enum):
    """What one frame meant, for the call session."""

    QUIET = "quiet"  # no turn under way, and this frame was not speech
    SOUND = "sound"  # no turn under way: speech, but not (yet) enough to start a turn
    SPEECH_STARTED = "speech-started"  # the caller began a turn: call ``start_turn``
    LISTENING = "listening"  # a turn goes on
    TURN_ENDED = "turn-ended"  # the turn is over: call ``end_turn``


@dataclass(frozen=True)
class Endpointing:
    """When a turn is over: the listener's share of the call's settings."""

    # Silence that ends a turn. The default applies until the words so far are known: then
    # a finished request ends after the quick patience, words that promise more wait the
    # hesitant one.
    end_silence_ms: int
    quick_end_silence_ms: int
    hesitant_end_silence_ms: int
    max_turn_ms: int
    # Below this recogniser confidence the words are taken as not heard.
    min_confidence: float

    def end_silence(self, patience: Patience) -> int:
        """Milliseconds of silence for ``patience``; the default stays between the other two."""
        if patience is Patience.QUICK:
            return min(self.quick_end_silence_ms, self.end_silence_ms)
        if patience is Patience.HESITANT:
            return max(self.hesitant_end_silence_ms, self.end_silence_ms)
        return self.end_silence_ms


@dataclass
class _Turn:
    stream: RecognizerStream
    frames: list[bytes] = field(default_factory=list)
    # Decoding started during the closing silence (see SPECULATE_MS); dropped when the
    # caller speaks again, used when the turn ends with only silence after it.
    preview: asyncio.Task[Transcript] | None = None
    # Whether the preview's words have set this silence's patience yet.
    judged: bool = False


class Utterance:
    """A finished turn: the caller's audio now, their words once decoded."""

    def __init__(self, turn: _Turn, rate: int) -> None:
        self._turn = turn
        self.audio = Audio(b"".join(turn.frames), rate)

    async def transcript(self) -> Transcript:
        """The words; raises ``RecognitionFailed``. A preview is the answer when only
        silence came after it; otherwise the stream decodes now."""
        try:
            if self._turn.preview is not None:
                return await self._turn.preview
            return await asyncio.to_thread(self._turn.stream.finish)
        except Exception as exc:
            raise RecognitionFailed(exc) from exc


class Listener:
    def __init__(
        self,
        *,
        rate: int,
        vad: VoiceActivityDetector,
        recognizer: SpeechRecognizer,
        endpointing: Endpointing,
        emit: Callable[[ev.CallEvent], None],
    ) -> None:
        self._rate = rate
        self._vad = vad
        self._recognizer = recognizer
        self._config = endpointing
        self._emit = emit
        self._detector = EndOfTurnDetector(
            end_silence_ms=endpointing.end_silence_ms, max_turn_ms=endpointing.max_turn_ms
        )
        self._preroll: deque[bytes] = deque(maxlen=PREROLL_FRAMES)
        self._turn: _Turn | None = None
        self._hints: tuple[str, ...] = ()  # what the caller is likely to answer next
        self._vocabulary: tuple[str, ...] = ()  # words an open request may contain
        self._careful = False  # the answer must not be cut short (voice/endpointing.py)

    def listen_for(
        self, hints: tuple[str, ...], *, careful: bool, vocabulary: tuple[str, ...] = ()
    ) -> None:
        """What our last prompt asked for: recognition hints (and, for an open request, a
        vocabulary) for the next turn, and whether its answer must not be cut short."""
        self._hints = hints
        self._vocabulary = vocabulary
        self._careful = careful

    async def frame(self, pcm: bytes) -> Heard:
        """Take one 20 ms frame. Raises ``RecognitionFailed`` (the turn is dropped) when
        the recogniser fails on it."""
        speech = self._vad.is_speech(pcm, self._rate)
        signal = self._detector.push(speech)
        if self._turn is None:
            self._preroll.append(pcm)
            if signal is TurnEvent.SPEECH_STARTED:
                return Heard.SPEECH_STARTED
            return Heard.SOUND if speech else Heard.QUIET
        turn = self._turn
        turn.frames.append(pcm)
        await self._feed(turn, pcm)
        if signal is not TurnEvent.TURN_ENDED:
            self._speculate(turn)
            signal = self._judge_patience(turn)
        return Heard.TURN_ENDED if signal is TurnEvent.TURN_ENDED else Heard.LISTENING

    async def start_turn(self) -> None:
        """Start recognising, with the pre-roll first. Raises ``RecognitionFailed``."""
        try:
            stream = await asyncio.to_thread(
                self._recognizer.start, self._rate, self._hints, self._vocabulary
            )
        except Exception as exc:
            raise RecognitionFailed(exc) from exc
        turn = self._turn = _Turn(stream)
        preroll, self._preroll = list(self._preroll), deque(maxlen=PREROLL_FRAMES)
        for pcm in preroll:
            turn.frames.append(pcm)
            await self._feed(turn, pcm)

    def end_turn(self) -> Utterance:
        """The turn is over (``Heard.TURN_ENDED``): listen for the next one."""
        assert self._turn is not None
        turn, self._turn = self._turn, None
        self._detector.reset()
        return Utterance(turn, self._rate)

    async def hung_up(self) -> tuple[Audio, str] | None:
        """The caller hung up: what they were saying, if anything, so it is kept. Decoding
        is tried once; a failure leaves the words empty, the audio is kept anyway."""
        if self._turn is None:
            return None
        turn, self._turn = self._turn, None
        audio = Audio(b"".join(turn.frames), self._rate)
        try:
            text = (await asyncio.to_thread(turn.stream.finish)).text
        except Exception:
            text = ""
        return audio, text

    def start_over(self) -> None:
        """After an engine failure: whatever was under way is not a turn any more."""
        self._detector.reset()

    async def _feed(self, turn: _Turn, pcm: bytes) -> None:
        try:
            await asyncio.to_thread(turn.stream.accept, pcm)
        except Exception as exc:
            self._turn = None
            raise RecognitionFailed(exc) from exc

    def _speculate(self, turn: _Turn) -> None:
        quiet_ms = self._detector.silence_frames * FRAME_MS
        if quiet_ms == 0:
            turn.preview = None  # the caller went on: that decode is out of date
            if turn.judged:
                turn.judged = False
                self._detector.set_patience(self._config.end_silence_ms)
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
        words = heard.text if heard.confidence >= self._config.min_confidence else ""
        patience = judge(words, careful=self._careful)
        ms = self._config.end_silence(patience)
        self._emit(ev.PatienceSet(patience.value, ms))
        return self._detector.set_patience(ms)
