from pathlib import Path

import pytest

from liangwang.settings import Profile, Settings, SettingsError, load_settings


def test_defaults_are_the_embedded_profile_on_sqlite() -> None:
    settings = load_settings()
    assert settings.profile is Profile.embedded
    assert settings.effective_database_url.startswith("sqlite:///")
    assert settings.effective_tracker_store_url.endswith("tracker.db")
    assert (settings.rasa_port, settings.action_port, settings.web_port) == (5005, 5055, 8000)
    assert settings.telegram_token is None


def test_invalid_port_stops_start_up_naming_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANGWANG_RASA_PORT", "99999")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "LIANGWANG_RASA_PORT" in str(err.value)


def test_scaled_profile_refuses_to_default_its_stores(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANGWANG_PROFILE", "scaled")
    monkeypatch.setenv("LIANGWANG_DATABASE_URL", "postgresql+psycopg://x@127.0.0.1/x")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "LIANGWANG_TRACKER_STORE_URL" in str(err.value)
    assert "LIANGWANG_LOCK_STORE_URL" in str(err.value)


def test_empty_token_means_no_telegram(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LIANGWANG_TELEGRAM_TOKEN", "")
    assert load_settings().telegram_token is None


def test_end_of_turn_patiences_must_be_in_order(monkeypatch: pytest.MonkeyPatch) -> None:
    settings = load_settings()
    assert (
        settings.voice_quick_end_silence_ms,
        settings.voice_end_silence_ms,
        settings.voice_hesitant_end_silence_ms,
    ) == (600, 1000, 2000)
    monkeypatch.setenv("LIANGWANG_VOICE_QUICK_END_SILENCE_MS", "1500")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "LIANGWANG_VOICE_QUICK_END_SILENCE_MS" in str(err.value)


def test_sip_trusted_peers_are_networks_and_a_typo_stops_start_up(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert [str(n) for n in load_settings().sip_trusted_networks] == ["127.0.0.0/8", "::1/128"]
    monkeypatch.setenv("LIANGWANG_SIP_TRUSTED_PEERS", "10.0.0.5, 192.168.1.0/24")
    assert [str(n) for n in load_settings().sip_trusted_networks] == [
        "10.0.0.5/32",
        "192.168.1.0/24",
    ]
    monkeypatch.setenv("LIANGWANG_SIP_TRUSTED_PEERS", "10.0.0.300")
    with pytest.raises(SettingsError) as err:
        load_settings()
    assert "LIANGWANG_SIP_TRUSTED_PEERS" in str(err.value)


def test_recordings_and_photos_live_where_every_replica_reaches_them(tmp_path: Path) -> None:
    from liangwang.photos import PhotoStore

    shared = tmp_path / "shared"
    one = Settings(data_dir=tmp_path / "machine-1", shared_dir=shared)
    other = Settings(data_dir=tmp_path / "machine-2", shared_dir=shared)
    assert one.recordings_dir == other.recordings_dir == shared / "calls"
    media = PhotoStore.from_settings(one).save(b"\xff\xd8\xff\xe0 a photo")
    assert PhotoStore.from_settings(other).file_of(media) is not None
    alone = Settings(data_dir=tmp_path / "machine-3")
    assert alone.photos_dir == tmp_path / "machine-3" / "photos"
