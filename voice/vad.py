"""Voice activity: webrtcvad per 20 ms frame, and a pure end-of-turn detector on top of it.

``EndOfTurnDetector`` counts frames rather than reading a clock, so the call loop's turn
taking can be tested exactly: feed it booleans, check on which frame it reports.
"""

from __future__ import annotations

import enum
import math
from collections import deque

from voice.audio import FRAME_MS, frame_bytes
from voice.errors import AudioFormatError

VAD_RATES = (8000, 16000)  # webrtcvad also takes 32 and 48 kHz; the pipeline never uses them


class WebrtcVad:
    """``VoiceActivityDetector`` backed by webrtcvad. Aggressiveness 0 (keeps most sounds as
    speech) to 3 (drops most noise); 2 suits telephone noise without clipping soft voices.
    Not shared between calls: webrtcvad keeps state from frame to frame."""

    def __init__(self, aggressiveness: int = 2) -> None:
        import webrtcvad

        if aggressiveness not in range(4):
            raise ValueError(f"VAD aggressiveness must be 0..3, not {aggressiveness}")
        self._vad = webrtcvad.Vad(aggressiveness)

    def is_speech(self, frame: bytes, rate: int) -> bool:
        if rate not in VAD_RATES:
            raise AudioFormatError(f"the VAD takes 8000 or 16000 Hz, not {rate} Hz")
        if len(frame) != frame_bytes(rate):
            raise AudioFormatError(
                f"a VAD frame is {FRAME_MS} ms ({frame_bytes(rate)} bytes at {rate} Hz), "
                f"not {len(frame)} bytes"
            )
        return bool(self._vad.is_speech(frame, rate))


class TurnEvent(enum.Enum):
    NONE = "none"
    SPEECH_STARTED = "speech-started"
    TURN_ENDED = "turn-ended"


class EndReason(enum.Enum):
    SILENCE = "silence"
    MAX_TURN = "max-turn"


class EndOfTurnDetector:
    """Decides, frame by frame, when the caller started speaking and when their turn ended.

    * Speech starts on the frame where at least ``start_frames`` of the last
      ``start_window`` frames were speech (3 of 5 by default), so a click or a burst of line
      noise does not count as the caller talking. ``speech_start_frame`` is the index of
      the first speech frame in that window, for keeping the audio from there on.
    * After that, a speech frame counts only when it would have passed the same test, so
      isolated blips in the silence after the caller stops neither end nor prolong the turn.
    * The turn ends on the first non-speech frame that completes ``end_silence_ms`` of
      frames since the last counted speech frame (patient by default: older callers pause
      mid-sentence), or on the frame where the turn, counted from ``speech_start_frame``,
      reaches ``max_turn_ms``, so an endless noise source cannot hold the line.

    Frame indices count from 0, the first frame pushed after construction or ``reset``.
    """

    def __init__(
        self,
        *,
        start_frames: int = 3,
        start_window: int = 5,
        end_silence_ms: int = 1000,
        max_turn_ms: int = 30_000,
        frame_ms: int = FRAME_MS,
    ) -> None:
        if not 1 <= start_frames <= start_window:
            raise ValueError("need 1 <= start_frames <= start_window")
        if frame_ms <= 0 or end_silence_ms < frame_ms or max_turn_ms < frame_ms:
            raise ValueError("end_silence_ms and max_turn_ms must be at least one frame")
        self.start_frames = start_frames
        self.start_window = start_window
        self.frame_ms = frame_ms
        self.default_end_silence_frames = math.ceil(end_silence_ms / frame_ms)
        self.max_turn_frames = math.ceil(max_turn_ms / frame_ms)
        self.reset()

    def reset(self) -> None:
        """Ready for the next turn."""
        self.end_silence_frames = self.default_end_silence_frames
        self._window: deque[tuple[int, bool]] = deque(maxlen=self.start_window)
        self.frames = 0  # frames pushed so far
        self.speech_start_frame: int | None = None
        self.last_speech_frame: int | None = None
        self.end_reason: EndReason | None = None

    def set_patience(self, end_silence_ms: int) -> TurnEvent:
        """Change the silence that ends this turn (``reset`` restores the default); ends the
        turn at once if the caller has already been quiet that long."""
        self.end_silence_frames = max(1, math.ceil(end_silence_ms / self.frame_ms))
        if (
            not self.turn_ended
            and self.speech_started
            and self.silence_frames >= self.end_silence_frames
        ):
            self.end_reason = EndReason.SILENCE
            return TurnEvent.TURN_ENDED
        return TurnEvent.NONE

    @property
    def speech_started(self) -> bool:
        return self.speech_start_frame is not None

    @property
    def turn_ended(self) -> bool:
        return self.end_reason is not None

    @property
    def silence_frames(self) -> int:
        """Frames since the last counted speech frame (0 before speech started)."""
        if self.last_speech_frame is None:
            return 0
        return self.frames - 1 - self.last_speech_frame

    def push(self, is_speech: bool) -> TurnEvent:
        """Feed one 20 ms frame's verdict; returns what this frame changed."""
        if self.turn_ended:
            return TurnEvent.NONE  # the turn is over until reset()
        index = self.frames
        self.frames += 1
        self._window.append((index, is_speech))
        voiced = [i for i, speech in self._window if speech]
        confirmed = is_speech and len(voiced) >= self.start_frames
        event = TurnEvent.NONE
        if confirmed:
            self.last_speech_frame = index
            if self.speech_start_frame is None:
                self.speech_start_frame = voiced[0]
                event = TurnEvent.SPEECH_STARTED
        if self.speech_start_frame is None:
            return event
        if index - self.speech_start_frame + 1 >= self.max_turn_frames:
            self.end_reason = EndReason.MAX_TURN
        elif not is_speech and self.silence_frames >= self.end_silence_frames:
            # Not on a speech frame: it may be the caller resuming, confirmed a frame or two
            # later; ending now would cut them off.
            self.end_reason = EndReason.SILENCE
        return TurnEvent.TURN_ENDED if self.turn_ended else event
