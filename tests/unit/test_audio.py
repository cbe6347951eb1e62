"""Audio values, WAV reading with clear errors, and the G.711 codecs of the phone line."""

from __future__ import annotations

import io
import subprocess
import wave
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest

from ops.cli import main
from voice.audio import Audio, alaw_decode, alaw_encode, ulaw_decode, ulaw_encode
from voice.errors import AudioFormatError
from voice.fakes import tone

Codec = Callable[[bytes], bytes]


def wav_bytes(*, channels: int = 1, width: int = 2, rate: int = 8000, frames: int = 800) -> bytes:
    buffer = io.BytesIO()
    with wave.open(buffer, "wb") as wav:
        wav.setnchannels(channels)
        wav.setsampwidth(width)
        wav.setframerate(rate)
        wav.writeframes(bytes(frames * channels * width))
    return buffer.getvalue()


@pytest.mark.parametrize(
    ("codec", "encode", "decode", "silence_code"),
    [("ulaw", ulaw_encode, ulaw_decode, 0xFF), ("alaw", alaw_encode, alaw_decode, 0xD5)],
)
def test_g711_round_trip_keeps_speech_and_silence(
    codec: str, encode: Codec, decode: Codec, silence_code: int
) -> None:
    assert encode(bytes(2)) == bytes([silence_code]), codec
    signal = tone(500).samples().astype(np.float64)
    back = np.frombuffer(decode(encode(tone(500).pcm)), dtype="<i2").astype(np.float64)
    noise = signal - back
    snr_db = 10 * np.log10(np.sum(signal**2) / np.sum(noise**2))
    assert snr_db > 30  # G.711 gives about 38 dB on a loud tone
    assert len(encode(tone(20).pcm)) == 160  # one byte per sample: a 20 ms packet


def test_wav_problems_are_clear_errors() -> None:
    with pytest.raises(AudioFormatError, match="empty"):
        Audio.from_wav(b"")
    with pytest.raises(AudioFormatError, match="not a readable WAV"):
        Audio.from_wav(b"RIFF....not really")
    with pytest.raises(AudioFormatError, match="16-bit"):
        Audio.from_wav(wav_bytes(width=1))
    with pytest.raises(AudioFormatError, match="channels"):
        Audio.from_wav(wav_bytes(channels=3))
    with pytest.raises(AudioFormatError, match="4000 Hz is outside"):
        Audio.from_wav(wav_bytes(rate=4000))


def test_unusual_rates_and_stereo_are_accepted_and_converted() -> None:
    stereo = Audio.from_wav(wav_bytes(channels=2, rate=11025, frames=11025))
    assert stereo.rate == 11025 and stereo.duration_s == pytest.approx(1.0)
    assert stereo.resample(8000).duration_s == pytest.approx(1.0, abs=0.01)


@pytest.mark.parametrize(("encoding", "decode"), [("mu-law", ulaw_decode), ("a-law", alaw_decode)])
def test_telephone_recordings_in_g711_wav_are_read(
    tmp_path: Path, encoding: str, decode: Codec
) -> None:
    # Telephone systems record μ-law/A-law WAVs (format tags 7 and 6); sox writes real ones.
    pcm = tmp_path / "call.wav"
    pcm.write_bytes(tone(1000).to_wav())
    telephone = tmp_path / f"call-{encoding}.wav"
    subprocess.run(
        ["sox", str(pcm), "-e", encoding, "-b", "8", "-r", "8000", str(telephone)], check=True
    )
    audio = Audio.from_wav(telephone)
    assert audio.rate == 8000 and audio.duration_s == pytest.approx(1.0, abs=0.01)
    payload = telephone.read_bytes()[-8000:]  # the data chunk ends the file: 1 s of codes
    assert audio.pcm[-16000:] == decode(payload)
    signal = tone(1000).samples().astype(np.float64)
    noise = signal - audio.samples().astype(np.float64)
    assert 10 * np.log10(np.sum(signal**2) / np.sum(noise**2)) > 30


def test_g711_wav_with_other_than_8_bit_samples_is_a_clear_error() -> None:
    fmt = (7).to_bytes(2, "little") + (1).to_bytes(2, "little") + (8000).to_bytes(4, "little")
    fmt += (16000).to_bytes(4, "little") + (2).to_bytes(2, "little") + (16).to_bytes(2, "little")
    body = b"WAVE" + b"fmt " + len(fmt).to_bytes(4, "little") + fmt + b"data" + bytes(4) + b""
    riff = b"RIFF" + len(body).to_bytes(4, "little") + body
    with pytest.raises(AudioFormatError, match="8-bit"):
        Audio.from_wav(riff)


def test_frames_are_20_ms_and_the_last_is_padded() -> None:
    frames = list(Audio.silence(0.05).frames())
    assert [len(f) for f in frames] == [320, 320, 320]


@pytest.mark.parametrize(
    ("content", "message"),
    [(b"", "empty"), (b"not audio at all", "not a readable WAV"), (None, "No such file")],
)
def test_liangwang_call_refuses_bad_recordings_clearly(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], content: bytes | None, message: str
) -> None:
    path = tmp_path / "caller.wav"
    if content is not None:
        path.write_bytes(content)
    assert main(["call", str(path)]) == 2
    out = capsys.readouterr().out
    assert "无法读取录音" in out and message in out
