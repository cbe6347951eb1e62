"""Catalog tables. Nested parts of a guide (materials, steps, …) are JSON columns holding
exactly the validated shapes of ``liangwang.catalog.schema``."""

from __future__ import annotations

from datetime import date
from typing import Any

from sqlalchemy import JSON, Boolean, Date, ForeignKey, Integer, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column, relationship

from liangwang.db import Base


class CatalogOffice(Base):
    __tablename__ = "catalog_offices"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    kind: Mapped[str] = mapped_column(String(80), index=True)
    district: Mapped[str] = mapped_column(String(20), index=True)
    name: Mapped[str] = mapped_column(String(200))
    address: Mapped[str] = mapped_column(String(300))
    hours: Mapped[str] = mapped_column(String(200))
    phone: Mapped[str] = mapped_column(String(40))
    verified: Mapped[bool] = mapped_column(Boolean, default=False)


class CatalogService(Base):
    __tablename__ = "catalog_services"

    id: Mapped[str] = mapped_column(String(80), primary_key=True)
    name: Mapped[str] = mapped_column(String(200))
    category: Mapped[str] = mapped_column(String(40), index=True)
    department: Mapped[str] = mapped_column(String(200))
    target_group: Mapped[str] = mapped_column(Text)
    summary: Mapped[str] = mapped_column(Text)
    conditions: Mapped[list[str]] = mapped_column(JSON)
    materials: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    steps: Mapped[list[str]] = mapped_column(JSON)
    online: Mapped[dict[str, Any]] = mapped_column(JSON)
    office_kind: Mapped[str | None] = mapped_column(String(80))
    time_limit: Mapped[dict[str, Any]] = mapped_column(JSON)
    fee: Mapped[str] = mapped_column(Text)
    proxy: Mapped[dict[str, Any]] = mapped_column(JSON)
    elderly_notes: Mapped[str] = mapped_column(Text, default="")
    eligibility: Mapped[list[dict[str, Any]]] = mapped_column(JSON)
    updated: Mapped[date] = mapped_column(Date)
    sample: Mapped[bool] = mapped_column(Boolean, default=False)

    names: Mapped[list[CatalogServiceName]] = relationship(
        back_populates="service", cascade="all, delete-orphan", order_by="CatalogServiceName.id"
    )
    variations: Mapped[list[CatalogDistrictVariation]] = relationship(
        back_populates="service",
        cascade="all, delete-orphan",
        order_by="CatalogDistrictVariation.id",
    )


class CatalogServiceName(Base):
    """Every name a service is known by (official, alias, colloquial) and every plain-words
    description of it (described). Unique across services."""

    __tablename__ = "catalog_service_names"
    __table_args__ = (UniqueConstraint("name"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("catalog_services.id", ondelete="CASCADE"))
    name: Mapped[str] = mapped_column(String(200))
    kind: Mapped[str] = mapped_column(String(20))  # official | alias | colloquial | described

    service: Mapped[CatalogService] = relationship(back_populates="names")


class CatalogDistrictVariation(Base):
    __tablename__ = "catalog_district_variations"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    service_id: Mapped[str] = mapped_column(ForeignKey("catalog_services.id", ondelete="CASCADE"))
    district: Mapped[str] = mapped_column(String(20))
    notes: Mapped[str] = mapped_column(Text)
    extra_materials: Mapped[list[dict[str, Any]]] = mapped_column(JSON)

    service: Mapped[CatalogService] = relationship(back_populates="variations")


class CatalogRevision(Base):
    """One row; bumped by every import that changes something, so processes that cache a
    search index (web app, action server) know when to rebuild it."""

    __tablename__ = "catalog_revision"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    revision: Mapped[int] = mapped_column(Integer, default=0)
