"""Every call is kept for staff: rows in the database, both sides' audio as WAV files, and
the back-office pages that show them."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy.orm import Session, sessionmaker

from backoffice.app import create_staff_app
from liangwang.db import unit_of_work
from liangwang.dialogue import RecordingEngine
from liangwang.settings import Settings
from liangwang.staff.models import Role
from liangwang.transcripts import recent_calls
from tests.staff_desk import signed_in
from voice.audio import Audio
from voice.fakes import (
    EnergyVad,
    FakeLine,
    RecordingSynthesizer,
    ScriptedRecognizer,
    silence_frames,
    speech_frames,
)
from voice.line import Dtmf, Hangup
from voice.session import CallConfig, CallSession, VoiceEngines
from voice.transcripts import StoredTranscripts


async def test_a_reused_or_hostile_call_id_keeps_every_call_apart(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    recordings = tmp_path / "var" / "calls"
    for caller, heard in (("13900001111", "第一个电话"), ("13900002222", "第二个电话")):
        line = FakeLine(caller=caller, call_id="..")  # the same Call-ID twice, and a hostile one
        line.feed(speech_frames(600), silence_frames(600), Hangup())
        engines = VoiceEngines(
            recognizer=ScriptedRecognizer([heard]),
            synthesizer=RecordingSynthesizer(),
            vad=EnergyVad(),
            dialogue=RecordingEngine(),
            recorder=StoredTranscripts(sessions, recordings),
        )
        await CallSession(line, engines, CallConfig(end_silence_ms=400)).run()
    with unit_of_work(sessions) as session:
        calls = sorted(recent_calls(session), key=lambda c: c.id)
        assert [c.turns[1].recognized for c in calls] == ["第一个电话", "第二个电话"]
        files = [c.turns[1].caller_audio for c in calls]
    assert files == [f"{calls[0].id}/001-caller.wav", f"{calls[1].id}/001-caller.wav"]
    assert {p.parent for p in (tmp_path / "var").rglob("*.wav")} == {
        recordings / str(c.id) for c in calls
    }  # nothing written beside the recordings folder


async def test_a_call_is_stored_turn_by_turn_with_audio(
    sessions: sessionmaker[Session], db_url: str, tmp_path: Path
) -> None:
    recordings = tmp_path / "calls"
    line = FakeLine(caller="13900001111", call_id="a1b2/../c3@host")
    line.feed(speech_frames(600), silence_frames(600), Dtmf("3"), silence_frames(1100), Hangup())
    engines = VoiceEngines(
        recognizer=ScriptedRecognizer(["我想办敬老卡"]),
        synthesizer=RecordingSynthesizer(),
        vad=EnergyVad(),
        dialogue=RecordingEngine(),
        recorder=StoredTranscripts(sessions, recordings),
    )
    await CallSession(line, engines, CallConfig(end_silence_ms=400, digit_timeout_s=1)).run()

    with unit_of_work(sessions) as session:
        (call,) = recent_calls(session)
        assert (call.caller, call.line, call.end_reason) == ("13900001111", "line", "caller-hangup")
        turns = [(t.index, t.recognized, t.keys, t.reply) for t in call.turns]
        assert turns == [
            (0, "", "", "/greet"),
            (1, "我想办敬老卡", "", "我想办敬老卡"),
            (2, "", "3", "3"),
        ]
        spoken = call.turns[1]
        assert spoken.confidence == 0.9 and spoken.latency_ms is not None
        assert spoken.caller_audio is not None and spoken.reply_audio is not None
        call_pk, caller_file = call.id, spoken.caller_audio
    # The network-supplied Call-ID names no path: recordings are filed by database id.
    assert caller_file.split("/")[0] == str(call_pk)
    saved = Audio.from_wav(recordings / caller_file)
    assert saved.rate == 8000 and saved.duration_s >= 0.6

    settings = Settings(database_url=db_url, data_dir=tmp_path)
    app = create_staff_app(settings, RecordingEngine())
    with signed_in(app, db_url, Role.reviewer) as client:
        listing = client.get("/staff/calls").text
        # The caller's number masked, as everywhere on staff pages until revealed.
        assert "139****1111" in listing and "13900001111" not in listing
        assert f"/staff/calls/{call_pk}" in listing
        page = client.get(f"/staff/calls/{call_pk}").text
        assert "我想办敬老卡" in page and f"/staff/recordings/{caller_file}" in page
        audio = client.get(f"/staff/recordings/{caller_file}")
        assert audio.status_code == 200 and audio.headers["content-type"] == "audio/wav"
        assert Audio.from_wav(audio.content).pcm == saved.pcm
        assert client.get("/staff/recordings/..%2F..%2Ftest.db/x.wav").status_code == 404
        assert client.get(f"/staff/recordings/{call_pk}/..%2F..%2Ftest.db").status_code == 404
        assert client.get("/staff/calls/999").status_code == 404
