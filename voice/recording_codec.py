"""Compressed recordings in and out: a Telegram voice note (OGG/Opus) or anything else FFmpeg
reads, decoded to ``Audio``; ``Audio`` encoded as a Telegram voice note.

PyAV carries its own FFmpeg (with libopus) inside its wheels, so nothing is installed
beside it. A recording is untrusted input: it is bounded in length while it is decoded (a
small file can hold hours of silence), and whatever FFmpeg cannot read is an
``AudioFormatError`` saying so, never a crash.
"""

from __future__ import annotations

import io

import av
import av.error
import numpy as np
from av.audio.resampler import AudioResampler

from voice.audio import SAMPLE_WIDTH, Audio
from voice.errors import AudioFormatError

VOICE_NOTE_RATE = 48000  # Opus works at 48 kHz; Telegram plays OGG/Opus as a voice note
VOICE_NOTE_BITRATE = 24000  # speech, mono: small files, clear words


def decode_recording(data: bytes, *, rate: int, max_seconds: float) -> Audio:
    """``data`` (any container and codec FFmpeg reads) as mono 16-bit PCM at ``rate``.
    Raises ``AudioFormatError`` when it is not audio, or runs past ``max_seconds``."""
    limit = int(max_seconds * rate) * SAMPLE_WIDTH
    pcm = bytearray()
    try:
        with av.open(io.BytesIO(data), mode="r") as container:
            if not container.streams.audio:
                raise AudioFormatError("the recording has no sound in it")
            resampler = AudioResampler(format="s16", layout="mono", rate=rate)
            for frame in container.decode(container.streams.audio[0]):
                for piece in resampler.resample(frame):
                    pcm += piece.to_ndarray().tobytes()
                if len(pcm) > limit:
                    raise AudioFormatError(f"the recording is longer than {max_seconds:g} s")
            for piece in resampler.resample(None):
                pcm += piece.to_ndarray().tobytes()
    except av.error.FFmpegError as exc:
        raise AudioFormatError(f"the recording cannot be read ({exc.strerror})") from exc
    return Audio(bytes(pcm[:limit]), rate)


def encode_voice_note(audio: Audio) -> bytes:
    """``audio`` as an OGG/Opus file, the format Telegram shows as a voice note."""
    out = io.BytesIO()
    with av.open(out, mode="w", format="ogg") as container:
        stream = container.add_stream("libopus", rate=VOICE_NOTE_RATE, layout="mono")
        stream.bit_rate = VOICE_NOTE_BITRATE
        frame = av.AudioFrame.from_ndarray(
            np.frombuffer(audio.pcm, dtype="<i2").reshape(1, -1), format="s16", layout="mono"
        )
        frame.sample_rate = audio.rate
        resampler = AudioResampler(format="s16", layout="mono", rate=VOICE_NOTE_RATE)
        for piece in [*resampler.resample(frame), *resampler.resample(None)]:
            container.mux(stream.encode(piece))
        container.mux(stream.encode(None))
    return out.getvalue()
