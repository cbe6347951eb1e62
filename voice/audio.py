"""Audio values and conversions shared by every part of the voice pipeline.

All audio inside the pipeline is ``Audio``: 16-bit signed little-endian mono PCM with its
sample rate. The telephone line speaks G.711 (μ-law / A-law, 8 kHz); the codecs here turn
it into PCM and back. Engines that want another rate call ``Audio.resample``.
"""

from __future__ import annotations

import io
import wave
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from voice.errors import AudioFormatError

SAMPLE_WIDTH = 2  # bytes per sample: 16-bit PCM
FRAME_MS = 20  # one telephone packet; VAD and the call loop work in these steps
# Any recording a caller or operator may bring; engines resample to what they need.
MIN_RATE, MAX_RATE = 8000, 192000


def frame_bytes(rate: int, ms: int = FRAME_MS) -> int:
    return rate * ms // 1000 * SAMPLE_WIDTH


@dataclass(frozen=True)
class Audio:
    pcm: bytes
    rate: int

    def __post_init__(self) -> None:
        if not MIN_RATE <= self.rate <= MAX_RATE:
            raise AudioFormatError(
                f"sample rate {self.rate} Hz is outside {MIN_RATE}–{MAX_RATE} Hz"
            )
        if len(self.pcm) % SAMPLE_WIDTH:
            raise AudioFormatError("PCM length is not a whole number of 16-bit samples")

    @classmethod
    def silence(cls, seconds: float, rate: int = 8000) -> Audio:
        return cls(bytes(int(seconds * rate) * SAMPLE_WIDTH), rate)

    @property
    def duration_s(self) -> float:
        return len(self.pcm) / SAMPLE_WIDTH / self.rate

    def samples(self) -> np.ndarray:
        return np.frombuffer(self.pcm, dtype="<i2")

    def rms(self) -> float:
        samples = self.samples().astype(np.float64)
        return float(np.sqrt(np.mean(samples**2))) if samples.size else 0.0

    def frames(self, ms: int = FRAME_MS) -> Iterator[bytes]:
        """Consecutive frames of ``ms`` milliseconds; the last one is padded with silence."""
        size = frame_bytes(self.rate, ms)
        for start in range(0, len(self.pcm), size):
            chunk = self.pcm[start : start + size]
            yield chunk + bytes(size - len(chunk))

    def resample(self, rate: int) -> Audio:
        if rate == self.rate or not self.pcm:
            return Audio(self.pcm, rate)
        import soxr  # imported here: only resampling callers pay for it

        converted = soxr.resample(self.samples(), self.rate, rate, quality="HQ")
        return Audio(np.asarray(converted, dtype="<i2").tobytes(), rate)

    @classmethod
    def concat(cls, clips: Iterable[Audio], rate: int) -> Audio:
        """The clips one after another, at ``rate`` (joined once, not pairwise)."""
        return cls(b"".join(clip.resample(rate).pcm for clip in clips), rate)

    def over_telephone(self) -> Audio:
        """This audio as a phone line delivers it: 8 kHz, through G.711 μ-law and back."""
        return Audio(ulaw_decode(ulaw_encode(self.resample(8000).pcm)), 8000)

    def __add__(self, other: Audio) -> Audio:
        return Audio(self.pcm + other.resample(self.rate).pcm, self.rate)

    def to_wav(self) -> bytes:
        buffer = io.BytesIO()
        with wave.open(buffer, "wb") as wav:
            wav.setnchannels(1)
            wav.setsampwidth(SAMPLE_WIDTH)
            wav.setframerate(self.rate)
            wav.writeframes(self.pcm)
        return buffer.getvalue()

    @classmethod
    def from_wav(cls, source: bytes | Path) -> Audio:
        """Read a WAV file; any multi-channel or 8-bit/24-bit file is a clear error."""
        data = source.read_bytes() if isinstance(source, Path) else source
        if not data:
            raise AudioFormatError("the audio is empty")
        g711 = _g711_wav(data)
        if g711 is not None:
            return g711
        try:
            with wave.open(io.BytesIO(data), "rb") as wav:
                channels, width, rate = wav.getnchannels(), wav.getsampwidth(), wav.getframerate()
                pcm = wav.readframes(wav.getnframes())
        except (wave.Error, EOFError) as exc:
            raise AudioFormatError(f"not a readable WAV file: {exc}") from exc
        if width != SAMPLE_WIDTH:
            raise AudioFormatError(f"WAV must be 16-bit PCM, this one has {8 * width}-bit samples")
        if channels == 2:
            stereo = np.frombuffer(pcm[: len(pcm) // 4 * 4], dtype="<i2").reshape(-1, 2)
            pcm = stereo.mean(axis=1).astype("<i2").tobytes()
        elif channels != 1:
            raise AudioFormatError(f"WAV must be mono or stereo, this one has {channels} channels")
        return cls(pcm, rate)


# WAV format tags of telephone recordings (RIFF/WAVE, Microsoft's registered values).
WAVE_FORMAT_ALAW = 6
WAVE_FORMAT_MULAW = 7


def _riff_chunks(data: bytes) -> dict[bytes, bytes] | None:
    """The chunks of a RIFF/WAVE file by id (first of each), or None for another file."""
    if len(data) < 12 or data[:4] != b"RIFF" or data[8:12] != b"WAVE":
        return None
    chunks: dict[bytes, bytes] = {}
    offset = 12
    while offset + 8 <= len(data):
        chunk_id, size = (
            data[offset : offset + 4],
            int.from_bytes(data[offset + 4 : offset + 8], "little"),
        )
        chunks.setdefault(chunk_id, data[offset + 8 : offset + 8 + size])
        offset += 8 + size + (size & 1)  # chunks are padded to an even length
    return chunks


def _g711_wav(data: bytes) -> Audio | None:
    """A μ-law or A-law WAV (as telephone systems record them) decoded to PCM; None for any
    other WAV, which the ``wave`` module reads."""
    chunks = _riff_chunks(data)
    fmt = chunks.get(b"fmt ") if chunks else None
    if chunks is None or fmt is None or len(fmt) < 16:
        return None
    tag = int.from_bytes(fmt[0:2], "little")
    if tag not in (WAVE_FORMAT_ALAW, WAVE_FORMAT_MULAW):
        return None
    channels = int.from_bytes(fmt[2:4], "little")
    rate = int.from_bytes(fmt[4:8], "little")
    bits = int.from_bytes(fmt[14:16], "little")
    if bits != 8:
        raise AudioFormatError(f"G.711 WAV must have 8-bit samples, this one has {bits}-bit")
    if channels not in (1, 2):
        raise AudioFormatError(f"WAV must be mono or stereo, this one has {channels} channels")
    payload = chunks.get(b"data", b"")
    decode = ulaw_decode if tag == WAVE_FORMAT_MULAW else alaw_decode
    pcm = decode(payload[: len(payload) // channels * channels])
    if channels == 2:
        stereo = np.frombuffer(pcm, dtype="<i2").reshape(-1, 2)
        pcm = stereo.mean(axis=1).astype("<i2").tobytes()
    return Audio(pcm, rate)


# --- G.711 -------------------------------------------------------------------------------
# Tables built once from the ITU-T G.711 decoding rules; encoding searches the sorted table,
# which is exact and fast enough for 8 kHz telephone audio.


def _ulaw_table() -> np.ndarray:
    codes = ~np.arange(256, dtype=np.int32) & 0xFF
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = (((mantissa << 3) + 0x84) << exponent) - 0x84
    return np.where(sign != 0, -magnitude, magnitude).astype(np.int16)


def _alaw_table() -> np.ndarray:
    codes = np.arange(256, dtype=np.int32) ^ 0x55
    sign = codes & 0x80
    exponent = (codes >> 4) & 0x07
    mantissa = codes & 0x0F
    magnitude = np.where(
        exponent == 0, (mantissa << 4) + 8, ((mantissa << 4) + 0x108) << np.maximum(exponent - 1, 0)
    )
    return np.where(sign != 0, magnitude, -magnitude).astype(np.int16)


_ULAW_DECODE = _ulaw_table()
_ALAW_DECODE = _alaw_table()


def _encoder(decode: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    # Sorted by value; equal values (μ-law's two zeros) put the positive code first, and
    # a sample halfway between two values takes the upper one, so silence encodes as the
    # conventional 0xFF (μ-law) / 0xD5 (A-law).
    codes = np.arange(256)
    order = np.lexsort((-codes, decode))
    return decode[order].astype(np.int32), order.astype(np.uint8)


_ULAW_SORTED, _ULAW_CODES = _encoder(_ULAW_DECODE)
_ALAW_SORTED, _ALAW_CODES = _encoder(_ALAW_DECODE)


def _encode(pcm: bytes, values: np.ndarray, codes: np.ndarray) -> bytes:
    samples = np.frombuffer(pcm, dtype="<i2").astype(np.int32)
    right = np.clip(np.searchsorted(values, samples), 1, len(values) - 1)
    left = right - 1
    nearest = np.where(samples - values[left] < values[right] - samples, left, right)
    return codes[nearest].tobytes()


def ulaw_decode(payload: bytes) -> bytes:
    return _ULAW_DECODE[np.frombuffer(payload, dtype=np.uint8)].astype("<i2").tobytes()


def alaw_decode(payload: bytes) -> bytes:
    return _ALAW_DECODE[np.frombuffer(payload, dtype=np.uint8)].astype("<i2").tobytes()


def ulaw_encode(pcm: bytes) -> bytes:
    return _encode(pcm, _ULAW_SORTED, _ULAW_CODES)


def alaw_encode(pcm: bytes) -> bytes:
    return _encode(pcm, _ALAW_SORTED, _ALAW_CODES)
