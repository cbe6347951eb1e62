"""The dependency audit (ops/audit.py): findings against the allow-list, stale entries,
packages that could not be audited, and a vulnerability service that does not answer."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from typing import Any

import httpx
import pytest

from liangwang.settings import PROJECT_ROOT
from ops.audit import (
    LOCKS,
    Accepted,
    AuditError,
    judge,
    load_allowlist,
    main,
    run_pip_audit,
)

LOCK = "requirements/rasa.lock"


def report(*dependencies: dict[str, Any]) -> dict[str, Any]:
    """pip-audit's JSON report, as `--format json --aliases on` writes it."""
    return {"dependencies": list(dependencies), "fixes": []}


def vulnerable(name: str, version: str, *vulns: tuple[str, list[str]]) -> dict[str, Any]:
    return {
        "name": name,
        "version": version,
        "vulns": [{"id": i, "fix_versions": ["9.9"], "aliases": a} for i, a in vulns],
    }


def entry(id: str, package: str = "sanic-cors", lock: str = LOCK) -> Accepted:
    return Accepted(id=id, package=package, lock=lock, reason="why it stays")


SANIC_CORS = vulnerable("sanic-cors", "2.0.1", ("PYSEC-2026-3539", ["GHSA-94jw-hqvj-vw74"]))


def test_a_finding_is_accepted_by_its_id_or_an_alias_for_its_own_lock_only() -> None:
    by_alias = judge(LOCK, report(SANIC_CORS), [entry("GHSA-94jw-hqvj-vw74", "Sanic_Cors")])
    assert by_alias.passed and len(by_alias.accepted) == 1

    other_lock = judge(LOCK, report(SANIC_CORS), [entry("PYSEC-2026-3539", lock="x.lock")])
    assert not other_lock.passed and [f.id for f in other_lock.unexpected] == ["PYSEC-2026-3539"]

    other_package = judge(LOCK, report(SANIC_CORS), [entry("PYSEC-2026-3539", "sanic")])
    assert not other_package.passed and other_package.stale == [entry("PYSEC-2026-3539", "sanic")]


def test_an_entry_that_matches_no_finding_is_stale() -> None:
    fixed = report({"name": "sanic-cors", "version": "2.3.0", "vulns": []})
    verdict = judge(LOCK, fixed, [entry("GHSA-94jw-hqvj-vw74")])
    assert not verdict.passed and verdict.stale == [entry("GHSA-94jw-hqvj-vw74")]


def test_a_package_that_could_not_be_audited_fails_the_audit_but_makes_nothing_stale() -> None:
    skipped = {"name": "sanic-cors", "skip_reason": "Dependency not found on PyPI"}
    verdict = judge(LOCK, report(skipped), [entry("GHSA-94jw-hqvj-vw74")])
    assert not verdict.passed
    assert verdict.unaudited == ["sanic-cors: Dependency not found on PyPI"]
    assert verdict.stale == []


def write_allowlist(path: Path, *entries: Accepted) -> Path:
    path.write_text(
        "\n".join(
            f'[[accepted]]\nid = "{e.id}"\npackage = "{e.package}"\nlock = "{e.lock}"\n'
            f'reason = """{e.reason}"""\n'
            for e in entries
        ),
        encoding="utf-8",
    )
    return path


def test_the_allowlist_needs_every_field_and_each_entry_once(tmp_path: Path) -> None:
    good = write_allowlist(tmp_path / "good.toml", entry("GHSA-1"), entry("GHSA-2"))
    assert load_allowlist(good) == [entry("GHSA-1"), entry("GHSA-2")]

    no_reason = tmp_path / "no-reason.toml"
    no_reason.write_text('[[accepted]]\nid = "GHSA-1"\npackage = "x"\nlock = "a.lock"\n')
    with pytest.raises(AuditError, match="missing or empty: reason"):
        load_allowlist(no_reason)

    twice = write_allowlist(tmp_path / "twice.toml", entry("GHSA-1"), entry("GHSA-1", "Sanic_Cors"))
    with pytest.raises(AuditError, match="listed twice"):
        load_allowlist(twice)


def test_the_projects_allowlist_reads_and_names_only_our_lock_files() -> None:
    entries = load_allowlist(PROJECT_ROOT / "requirements/audit-allowlist.toml")
    assert entries and {e.lock for e in entries} <= set(LOCKS)


def test_the_audit_passes_only_with_every_finding_accepted_and_no_stale_entry(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "rasa.lock"
    lock.write_text("Sanic-Cors==2.0.1\n")
    monkeypatch.setattr("ops.audit.run_pip_audit", lambda _lock: report(SANIC_CORS))
    allowlist = write_allowlist(tmp_path / "allow.toml")

    def audit() -> int:
        return main(["--allowlist", str(allowlist), str(lock)])

    assert audit() == 1
    assert "NOT ACCEPTED sanic-cors 2.0.1: PYSEC-2026-3539" in capsys.readouterr().out
    accepted = entry("GHSA-94jw-hqvj-vw74", lock=lock.as_posix())
    write_allowlist(allowlist, accepted)
    assert audit() == 0
    write_allowlist(allowlist, accepted, entry("GHSA-0000-0000-0000", lock=lock.as_posix()))
    assert audit() == 1
    assert "STALE entry GHSA-0000-0000-0000" in capsys.readouterr().out
    write_allowlist(allowlist, entry("GHSA-94jw-hqvj-vw74", lock="requirements/typo.lock"))
    assert audit() == 1
    assert "no such lock file: requirements/typo.lock" in capsys.readouterr().err


def closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def test_an_unreachable_vulnerability_service_fails_the_audit_clearly(tmp_path: Path) -> None:
    lock = tmp_path / "tiny.lock"
    lock.write_text("requests==2.5.0\n")
    # Every request goes through a proxy nobody listens to: PyPI cannot be reached.
    proxy = f"http://127.0.0.1:{closed_port()}"
    env = {**os.environ, "HTTPS_PROXY": proxy, "HTTP_PROXY": proxy}
    env["XDG_CACHE_HOME"] = str(tmp_path / "cache")  # no answer cached by an earlier run
    with pytest.raises(AuditError, match=r"pip-audit gave no report .*is PyPI reachable"):
        run_pip_audit(lock, env)


# --- against the real registry ------------------------------------------------------------

VULNERABLE_PIN = "requests==2.5.0"  # years of advisories, several without a fix in 2.5


@pytest.fixture
def pypi_vulnerability_service() -> None:
    """Skip unless PyPI's per-version JSON API, where pip-audit reads advisories, answers."""
    url = "https://pypi.org/pypi/requests/2.5.0/json"
    try:
        status = httpx.get(url, timeout=15).status_code
    except httpx.HTTPError as exc:
        pytest.skip(f"needs the PyPI registry: {url} unreachable ({type(exc).__name__})")
    if status != 200:
        pytest.skip(f"needs PyPI's per-version JSON API: {url} answered HTTP {status}")


@pytest.mark.registry
def test_a_known_vulnerable_pin_fails_until_each_finding_is_accepted(
    pypi_vulnerability_service: None, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    lock = tmp_path / "tiny.lock"
    lock.write_text(VULNERABLE_PIN + "\n")
    allowlist = write_allowlist(tmp_path / "allow.toml")
    assert main(["--allowlist", str(allowlist), str(lock)]) == 1
    assert "NOT ACCEPTED requests 2.5.0" in capsys.readouterr().out

    findings = judge(lock.as_posix(), run_pip_audit(lock), []).unexpected
    accepted = [entry(f.id, "requests", lock.as_posix()) for f in findings]
    write_allowlist(allowlist, *accepted)
    assert main(["--allowlist", str(allowlist), str(lock)]) == 0

    write_allowlist(allowlist, *accepted, entry("GHSA-0000-0000-0000", "requests", lock.as_posix()))
    assert main(["--allowlist", str(allowlist), str(lock)]) == 1
    assert "STALE entry GHSA-0000-0000-0000" in capsys.readouterr().out
