"""Catalog storage: import a validated file (all or nothing, idempotent), export, read."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import yaml
from sqlalchemy import delete, select
from sqlalchemy.orm import Session, selectinload

from liangwang.catalog.loader import CatalogError, Problem, format_of, load
from liangwang.catalog.models import (
    CatalogDistrictVariation,
    CatalogOffice,
    CatalogRevision,
    CatalogService,
    CatalogServiceName,
)
from liangwang.catalog.schema import CatalogFile, Office, Service
from liangwang.catalog.search import Candidate, CatalogIndex

SAMPLE_CATALOG = Path(__file__).resolve().parents[2] / "data" / "catalog" / "shanghai-sample.yml"


@dataclass(frozen=True)
class ImportReport:
    services: int
    offices: int
    changed: int  # services or offices whose stored content differs from before


# What an operator is told when a catalog file cannot be imported, in Chinese and English.
PROBLEMS = {
    "unreadable": "读不了文件 / cannot read file: {error}",
    "name_in_catalog": "名称「{name}」已用于目录里的 / name already used by {owner}",
}


def office_kinds(session: Session) -> set[str]:
    return set(session.scalars(select(CatalogOffice.kind).distinct()))


def read_catalog_file(session: Session, path: Path) -> CatalogFile:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise CatalogError([Problem(PROBLEMS["unreadable"].format(error=exc))]) from None
    return load(text, format_of(path), known_office_kinds=office_kinds(session))


def _service_row(service: Service, sample: bool) -> CatalogService:
    data = service.model_dump(mode="json")
    row = CatalogService(
        id=service.id,
        name=service.name,
        category=service.category,
        department=service.department,
        target_group=service.target_group,
        summary=service.summary,
        conditions=data["conditions"],
        materials=data["materials"],
        steps=data["steps"],
        online=data["online"],
        office_kind=service.office_kind,
        time_limit=data["time_limit"],
        fee=service.fee,
        proxy=data["proxy"],
        elderly_notes=service.elderly_notes,
        eligibility=data["eligibility"],
        updated=service.updated,
        sample=sample,
    )
    row.names = [CatalogServiceName(name=service.name, kind="official")]
    row.names += [
        CatalogServiceName(name=n, kind="alias")
        for n in dict.fromkeys(service.aliases)
        if n != service.name
    ]
    seen = {service.name, *service.aliases}
    row.names += [
        CatalogServiceName(name=n, kind="colloquial")
        for n in dict.fromkeys(service.colloquial)
        if n not in seen
    ]
    seen |= set(service.colloquial)
    row.names += [
        CatalogServiceName(name=n, kind="described")
        for n in dict.fromkeys(service.described_as)
        if n not in seen
    ]
    row.variations = [
        CatalogDistrictVariation(
            district=v.district,
            notes=v.notes,
            extra_materials=[m.model_dump(mode="json") for m in v.extra_materials],
        )
        for v in service.district_variations
    ]
    return row


def to_schema(row: CatalogService) -> Service:
    return Service.model_validate(
        {
            "id": row.id,
            "name": row.name,
            "aliases": [n.name for n in row.names if n.kind == "alias"],
            "colloquial": [n.name for n in row.names if n.kind == "colloquial"],
            "described_as": [n.name for n in row.names if n.kind == "described"],
            "category": row.category,
            "department": row.department,
            "target_group": row.target_group,
            "summary": row.summary,
            "conditions": row.conditions,
            "materials": row.materials,
            "steps": row.steps,
            "online": row.online,
            "office_kind": row.office_kind,
            "time_limit": row.time_limit,
            "fee": row.fee,
            "proxy": row.proxy,
            "elderly_notes": row.elderly_notes,
            "eligibility": row.eligibility,
            "district_variations": [
                {"district": v.district, "notes": v.notes, "extra_materials": v.extra_materials}
                for v in row.variations
            ],
            "updated": row.updated,
        }
    )


def _office_schema(row: CatalogOffice) -> Office:
    fields = ("id", "kind", "district", "name", "address", "hours", "phone", "verified")
    return Office.model_validate({f: getattr(row, f) for f in fields})


def import_catalog(session: Session, catalog: CatalogFile) -> ImportReport:
    """Write a validated catalog in the caller's transaction. Same file twice: no change."""
    changed = 0
    names_elsewhere = {
        name: sid
        for name, sid in session.execute(
            select(CatalogServiceName.name, CatalogServiceName.service_id)
        )
    }
    incoming_ids = {s.id for s in catalog.services}
    clashes = [
        Problem(
            PROBLEMS["name_in_catalog"].format(name=name, owner=names_elsewhere[name]),
            f"service {s.id}",
            "aliases",
        )
        for s in catalog.services
        for name in s.search_texts()
        if name in names_elsewhere and names_elsewhere[name] not in incoming_ids
    ]
    if clashes:
        raise CatalogError(clashes)

    for office in catalog.offices:
        existing = session.get(CatalogOffice, office.id)
        if existing is not None and _office_schema(existing) == office:
            continue
        changed += 1
        session.merge(CatalogOffice(**office.model_dump()))

    existing_services = {
        row.id: row
        for row in session.scalars(
            select(CatalogService)
            .where(CatalogService.id.in_(incoming_ids))
            .options(selectinload(CatalogService.names), selectinload(CatalogService.variations))
        )
    }
    replaced = [
        sid
        for sid, row in existing_services.items()
        if to_schema(row) != _by_id(catalog, sid) or row.sample != catalog.sample
    ]
    if replaced:
        # Names are unique across services: remove the old rows before inserting new ones.
        session.execute(
            delete(CatalogServiceName).where(CatalogServiceName.service_id.in_(replaced))
        )
        session.execute(
            delete(CatalogDistrictVariation).where(
                CatalogDistrictVariation.service_id.in_(replaced)
            )
        )
        session.execute(delete(CatalogService).where(CatalogService.id.in_(replaced)))
        session.expunge_all()
        session.flush()
    for service in catalog.services:
        if service.id in existing_services and service.id not in replaced:
            continue
        changed += 1
        session.add(_service_row(service, catalog.sample))
    if changed:
        _bump_revision(session)
    session.flush()
    return ImportReport(
        services=len(catalog.services), offices=len(catalog.offices), changed=changed
    )


def _by_id(catalog: CatalogFile, service_id: str) -> Service:
    return next(s for s in catalog.services if s.id == service_id)


def export_catalog(session: Session) -> CatalogFile:
    services = session.scalars(
        select(CatalogService)
        .order_by(CatalogService.id)
        .options(selectinload(CatalogService.names), selectinload(CatalogService.variations))
    ).all()
    offices = session.scalars(select(CatalogOffice).order_by(CatalogOffice.id)).all()
    return CatalogFile(
        format="liangwang-catalog/1",
        sample=any(s.sample for s in services),
        offices=[_office_schema(o) for o in offices],
        services=[to_schema(s) for s in services],
    )


def dump(catalog: CatalogFile, fmt: str) -> str:
    data = catalog.model_dump(mode="json", exclude_none=False)
    if fmt == "json":
        return json.dumps(data, ensure_ascii=False, indent=2) + "\n"
    return yaml.safe_dump(data, allow_unicode=True, sort_keys=False, width=100)


def load_services(session: Session) -> list[Service]:
    rows = session.scalars(
        select(CatalogService)
        .order_by(CatalogService.id)
        .options(selectinload(CatalogService.names), selectinload(CatalogService.variations))
    ).all()
    return [to_schema(r) for r in rows]


def offices_for(session: Session, kind: str, district: str | None = None) -> list[Office]:
    query = select(CatalogOffice).where(CatalogOffice.kind == kind)
    if district:
        query = query.where(CatalogOffice.district == district)
    return [_office_schema(o) for o in session.scalars(query.order_by(CatalogOffice.id))]


def _bump_revision(session: Session) -> None:
    row = session.get(CatalogRevision, 1)
    if row is None:
        session.add(CatalogRevision(id=1, revision=1))
    else:
        row.revision += 1


def revision(session: Session) -> int:
    return session.scalar(select(CatalogRevision.revision).where(CatalogRevision.id == 1)) or 0


class IndexCache:
    """A search index per process, rebuilt only when an import changed the catalog."""

    def __init__(self) -> None:
        self._revision = -1
        self._index: CatalogIndex | None = None

    def get(self, session: Session) -> CatalogIndex:
        current = revision(session)
        if self._index is None or current != self._revision:
            self._index = CatalogIndex(load_services(session))
            self._revision = current
        return self._index


class StoredCatalog:
    """The catalog as the guide sees it: the cached search index plus office lookups."""

    def __init__(self, index: CatalogIndex, session: Session) -> None:
        self._index = index
        self._session = session
        self.services = index.services

    def search(self, query: str, limit: int = 5) -> list[Candidate]:
        return self._index.search(query, limit)

    def offices(self, kind: str, district: str) -> list[Office]:
        return offices_for(self._session, kind, district)
