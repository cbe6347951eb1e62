"""Catalog import/export: whole-file validation with located errors, all or nothing."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
import yaml
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from liangwang.catalog.loader import CatalogError, load
from liangwang.catalog.models import CatalogService, CatalogServiceName
from liangwang.catalog.store import dump, export_catalog, import_catalog, read_catalog_file
from liangwang.db import unit_of_work

MINI = Path(__file__).resolve().parent.parent / "fixtures" / "catalog_mini.yml"


def mini_text() -> str:
    return MINI.read_text(encoding="utf-8")


def counts(sessions: sessionmaker[Session]) -> tuple[int, int]:
    with sessions() as s:
        return (
            s.scalar(select(func.count()).select_from(CatalogService)) or 0,
            s.scalar(select(func.count()).select_from(CatalogServiceName)) or 0,
        )


def write(tmp_path: Path, name: str, text: str) -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def try_import(sessions: sessionmaker[Session], path: Path) -> CatalogError:
    with pytest.raises(CatalogError) as err, unit_of_work(sessions) as s:
        import_catalog(s, read_catalog_file(s, path))
    return err.value


def test_import_then_reimport_changes_nothing(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        first = import_catalog(s, read_catalog_file(s, MINI))
    with unit_of_work(sessions) as s:
        second = import_catalog(s, read_catalog_file(s, MINI))
    assert (first.services, first.offices, first.changed) == (3, 2, 5)
    assert second.changed == 0
    assert counts(sessions) == (3, 14)  # names and descriptions


def test_export_round_trips_in_yaml_and_json(sessions: sessionmaker[Session]) -> None:
    with unit_of_work(sessions) as s:
        original = read_catalog_file(s, MINI)
        import_catalog(s, original)
        exported = export_catalog(s)
    by_id = {x.id: x for x in original.services}
    assert {x.id: x for x in exported.services} == by_id
    assert load(dump(exported, "json"), "json") == exported
    assert load(dump(exported, "yaml"), "yaml") == exported


def test_changing_an_alias_replaces_the_old_names(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with unit_of_work(sessions) as s:
        import_catalog(s, read_catalog_file(s, MINI))
    changed = write(tmp_path, "c.yml", mini_text().replace("[社保卡, 社保卡补办]", "[社保卡]"))
    with unit_of_work(sessions) as s:
        report = import_catalog(s, read_catalog_file(s, changed))
    assert report.changed == 1
    assert counts(sessions) == (3, 13)


@pytest.mark.parametrize(
    ("edit", "item", "field", "line", "words"),
    [
        # missing field
        (
            lambda t: t.replace("    department: 上海市公安局\n", ""),
            "service residence-permit-apply",
            "department",
            45,
            "Field required",
        ),
        # wrong type
        (
            lambda t: t.replace("legal_days: 15,", "legal_days: 十五,"),
            "service residence-permit-apply",
            "time_limit.legal_days",
            60,
            "integer",
        ),
        # unknown enumeration value
        (
            lambda t: t.replace("form: original_and_copy", "form: photocopy"),
            "service residence-permit-apply",
            "materials[1].form",
            56,
            "original",
        ),
        # duplicate id
        (
            lambda t: t.replace("id: housing-fund-withdrawal", "id: social-security-card"),
            "service social-security-card",
            "id",
            69,
            "duplicate id",
        ),
        # unknown district
        (
            lambda t: t.replace("district: 浦东新区, notes", "district: 浦西区, notes"),
            "service social-security-card",
            "district_variations[0].district",
            43,
            "黄浦区",
        ),
        # office kind nobody has
        (
            lambda t: t.replace(
                "office_kind: community_center\n    time_limit: {legal_days: 15",
                "office_kind: tax_office\n    time_limit: {legal_days: 15",
            ),
            "service residence-permit-apply",
            "office_kind",
            59,
            "tax_office",
        ),
    ],
)
def test_broken_file_names_item_field_and_line_and_writes_nothing(
    sessions: sessionmaker[Session],
    tmp_path: Path,
    edit,
    item,
    field,
    line,
    words,  # type: ignore[no-untyped-def]
) -> None:
    error = try_import(sessions, write(tmp_path, "broken.yml", edit(mini_text())))
    [problem] = error.problems
    assert (problem.item, problem.field, problem.line) == (item, field, line)
    assert words in problem.message
    assert counts(sessions) == (0, 0)


def test_every_problem_is_reported_at_once(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    text = (
        mini_text()
        .replace("    fee: 免费。\n", "")
        .replace("count: 1, notes: 租房", "count: 0, notes: 租房")
    )
    error = try_import(sessions, write(tmp_path, "two.yml", text))
    fields = sorted(p.field or "" for p in error.problems)
    assert fields == ["fee", "fee", "materials[1].count"]


def test_bad_yaml_reports_the_line(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    error = try_import(
        sessions,
        write(
            tmp_path,
            "bad.yml",
            mini_text().replace("aliases: [居住证, 办居住证]", "aliases: [居住证, 办居住证"),
        ),
    )
    [problem] = error.problems
    assert "YAML" in problem.message and problem.line is not None and problem.line >= 38
    assert counts(sessions) == (0, 0)


def test_bad_json_reports_the_line(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    good = json.dumps(yaml.safe_load(mini_text()), ensure_ascii=False, indent=2, default=str)
    error = try_import(
        sessions, write(tmp_path, "bad.json", good.replace('"fee": "免费。"', '"fee": "免费。",,'))
    )
    [problem] = error.problems
    assert "JSON" in problem.message and problem.line is not None and problem.line > 1


def test_json_errors_carry_lines_too(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    data = yaml.safe_load(mini_text())
    del data["services"][2]["steps"]
    text = json.dumps(data, ensure_ascii=False, indent=2, default=str)
    error = try_import(sessions, write(tmp_path, "missing.json", text))
    [problem] = error.problems
    assert (problem.item, problem.field) == ("service housing-fund-withdrawal", "steps")
    assert problem.line is not None


def test_a_name_already_used_by_another_stored_service_is_refused(
    sessions: sessionmaker[Session], tmp_path: Path
) -> None:
    with unit_of_work(sessions) as s:
        import_catalog(s, read_catalog_file(s, MINI))
    data = yaml.safe_load(mini_text())
    other = data["services"][2]
    other["id"] = "another-service"
    other["name"] = "另一个事项"
    other["aliases"] = ["社保卡"]
    other["colloquial"] = []
    other["described_as"] = []
    data["services"] = [other]
    error = try_import(
        sessions, write(tmp_path, "clash.yml", yaml.safe_dump(data, allow_unicode=True))
    )
    [problem] = error.problems
    assert "社保卡" in problem.message and "social-security-card" in problem.message
    assert counts(sessions) == (3, 14)


def test_unknown_file_type(sessions: sessionmaker[Session], tmp_path: Path) -> None:
    assert "unknown file type" in str(try_import(sessions, write(tmp_path, "x.txt", "")))
