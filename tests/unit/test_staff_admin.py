"""Administrators' pages (backoffice/staff_admin.py): the catalog, imported from a file
checked whole before anything is written, and the settings, secrets never shown."""

from __future__ import annotations

from pathlib import Path

from pydantic import SecretStr

from backoffice.app import create_staff_app
from liangwang.catalog.store import SAMPLE_CATALOG
from liangwang.dialogue import RecordingEngine
from liangwang.settings import PROJECT_ROOT, Settings
from liangwang.staff.models import Role
from ops.staff_client import StaffBrowser
from tests.staff_desk import signed_in

MINI = PROJECT_ROOT / "tests" / "fixtures" / "catalog_mini.yml"


def _upload(member: StaffBrowser, name: str, content: bytes) -> tuple[int, str]:
    reply = member.client.post(
        "/staff/catalog",
        data={"csrf": member.csrf},
        files={"catalog_file": (name, content, "application/yaml")},
    )
    return reply.status_code, reply.text


def test_an_administrator_imports_a_catalog_file_checked_whole_first(db_url: str) -> None:
    app = create_staff_app(Settings(database_url=db_url), RecordingEngine())
    with signed_in(app, db_url, Role.admin) as admin:
        broken = MINI.read_text(encoding="utf-8").replace("name:", "nmae:", 1)
        status, page = _upload(admin, "broken.yml", broken.encode())
        assert status == 400 and 'id="problems"' in page and "line" in page
        assert "<tbody>\n  \n  </tbody>" in page  # nothing was written
        assert _upload(admin, "catalog.txt", b"x")[0] == 400  # neither YAML nor JSON
        assert _upload(admin, "bad.yml", b"\xff\xfe")[0] == 400  # not UTF-8
        # The sample catalog is larger than any other request may be: its route allows it.
        assert SAMPLE_CATALOG.stat().st_size > 64 * 1024
        status, page = _upload(admin, "sample.yml", SAMPLE_CATALOG.read_bytes())
        assert status == 200 and 'id="imported"' in page and "敬老卡" in page
        too_big = admin.client.post(
            "/staff/tickets/1/close", data={"csrf": admin.csrf, "note": "x" * 100_000}
        )
        assert too_big.status_code == 413  # everywhere else the usual limit holds
        audit = admin.get("/staff/accounts").text
        assert "catalog_imported" in audit and "sample.yml" in audit
    with signed_in(app, db_url, Role.dispatcher) as dispatcher:
        assert dispatcher.get("/staff/catalog").status_code == 403
        assert _upload(dispatcher, "sample.yml", MINI.read_bytes())[0] == 403


def test_the_settings_page_shows_what_runs_and_never_a_secret(db_url: str, tmp_path: Path) -> None:
    settings = Settings(
        database_url=db_url,
        tracker_store_url="postgresql://rasa:hunter2secret@db.internal:5432/tracker",
        telegram_token=SecretStr("123:bot-token-value"),
    )
    app = create_staff_app(settings, RecordingEngine())
    with signed_in(app, db_url, Role.admin) as admin:
        page = admin.get("/staff/settings").text
    assert "LIANGWANG_STAFF_PORT" in page and "8001" in page
    assert "postgresql://rasa:****@db.internal:5432/tracker" in page
    assert "hunter2secret" not in page and "bot-token-value" not in page
    assert "（已设置）" in page
