"""The materials of a service as one message to keep: numbered lines, the district's
extra materials included."""

from __future__ import annotations

from collections.abc import Mapping

from liangwang.catalog.schema import Material, Service


def materials_checklist(
    service: Service, district: str | None, fragments: Mapping[str, str]
) -> str:
    """The materials as numbered lines, district extras included: one message to keep."""
    materials: list[Material] = list(service.materials)
    for variation in service.district_variations:
        if variation.district == district:
            materials += variation.extra_materials
    lines = []
    for number, material in enumerate(materials, 1):
        line = fragments["line"].format(
            number=number,
            name=material.name,
            form=fragments[f"form_{material.form.value}"],
            count=material.count,
        )
        if material.notes:
            line += fragments["note"].format(notes=material.notes)
        lines.append(line)
    return "\n".join(lines)
