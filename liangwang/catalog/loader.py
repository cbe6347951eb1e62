"""Read and validate a whole catalog file (YAML or JSON) before anything is written.

Every problem is reported with where it is: the item (service or office id), the field,
and the line in the file. JSON is parsed for its syntax errors with ``json`` and then
composed with the YAML parser (JSON is YAML) to learn the line of every value.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import PurePath
from typing import Any

import yaml
from pydantic import ValidationError

from liangwang.catalog.schema import CatalogFile

PathKey = tuple[str | int, ...]


@dataclass(frozen=True)
class Problem:
    message: str
    item: str | None = None  # "service residence-permit-apply" / "office huangpu-…"
    field: str | None = None  # "materials[0].form"
    line: int | None = None

    def render(self) -> str:
        where = [
            p for p in (self.item, self.field, f"line {self.line}" if self.line else None) if p
        ]
        return f"{', '.join(where)}: {self.message}" if where else self.message


# What an operator is told about a broken catalog file, in Chinese and English.
PROBLEMS = {
    "invalid_json": "JSON 格式错误 / invalid JSON: {error}",
    "invalid_yaml": "YAML 格式错误 / invalid YAML: {error}",
    "duplicate_id": "重复的编号 / duplicate id '{id}'",
    "name_taken": "名称「{name}」已用于 / name already used by {owner}",
    "unknown_office_kind": "没有这类办事地点 / no office of kind '{kind}'",
    "unknown_file_type": "不认识的文件类型 / unknown file type '{suffix}' (use .yml or .json)",
}


class CatalogError(ValueError):
    def __init__(self, problems: list[Problem]) -> None:
        super().__init__("\n".join(p.render() for p in problems))
        self.problems = problems


def _line_map(node: yaml.Node, path: PathKey, lines: dict[PathKey, int]) -> None:
    lines[path] = node.start_mark.line + 1
    if isinstance(node, yaml.MappingNode):
        for key, value in node.value:
            lines[(*path, str(key.value))] = key.start_mark.line + 1
            _line_map(value, (*path, str(key.value)), lines)
            lines[(*path, str(key.value))] = key.start_mark.line + 1
    elif isinstance(node, yaml.SequenceNode):
        for index, item in enumerate(node.value):
            _line_map(item, (*path, index), lines)


def parse(text: str, fmt: str) -> tuple[Any, dict[PathKey, int]]:
    """Parse text as ``yaml`` or ``json``; returns the data and a path → line map."""
    if fmt == "json":
        try:
            json.loads(text)
        except json.JSONDecodeError as exc:
            raise CatalogError(
                [Problem(PROBLEMS["invalid_json"].format(error=exc.msg), line=exc.lineno)]
            ) from None
    try:
        node = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        problem = getattr(exc, "problem", None) or str(exc)
        raise CatalogError(
            [
                Problem(
                    PROBLEMS["invalid_yaml"].format(error=problem),
                    line=mark.line + 1 if mark else None,
                )
            ]
        ) from None
    lines: dict[PathKey, int] = {}
    if node is not None:
        _line_map(node, (), lines)
    return data, lines


def _line_for(path: PathKey, lines: dict[PathKey, int]) -> int | None:
    while path:
        if path in lines:
            return lines[path]
        path = path[:-1]
    return lines.get(())


def _item_for(path: PathKey, data: Any) -> str | None:
    if len(path) >= 2 and path[0] in ("services", "offices") and isinstance(path[1], int):
        kind = "service" if path[0] == "services" else "office"
        try:
            ident = data[path[0]][path[1]].get("id")
        except (KeyError, IndexError, TypeError, AttributeError):
            ident = None
        return f"{kind} {ident}" if ident else f"{kind} #{path[1] + 1}"
    return None


def _field_for(path: PathKey) -> str:
    rest = path[2:] if len(path) >= 2 and path[0] in ("services", "offices") else path
    out = ""
    for part in rest:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else part)
    return out


def _duplicates(values: Iterable[str]) -> list[str]:
    return [value for value, n in Counter(values).items() if n > 1]


def _cross_checks(
    catalog: CatalogFile, lines: dict[PathKey, int], known_office_kinds: set[str]
) -> list[Problem]:
    problems: list[Problem] = []
    for kind, key, ids in (
        ("service", "services", [s.id for s in catalog.services]),
        ("office", "offices", [o.id for o in catalog.offices]),
    ):
        for dup in _duplicates(ids):
            index = max(n for n, i in enumerate(ids) if i == dup)
            problems.append(
                Problem(
                    PROBLEMS["duplicate_id"].format(id=dup),
                    f"{kind} {dup}",
                    "id",
                    _line_for((key, index, "id"), lines),
                )
            )
    owner: dict[str, str] = {}
    for index, service in enumerate(catalog.services):
        for name in dict.fromkeys(service.search_texts()):
            if name in owner and owner[name] != service.id:
                problems.append(
                    Problem(
                        PROBLEMS["name_taken"].format(name=name, owner=owner[name]),
                        f"service {service.id}",
                        "aliases",
                        _line_for(("services", index), lines),
                    )
                )
            owner.setdefault(name, service.id)
    kinds = known_office_kinds | {o.kind for o in catalog.offices}
    for index, service in enumerate(catalog.services):
        if service.office_kind and service.office_kind not in kinds:
            problems.append(
                Problem(
                    PROBLEMS["unknown_office_kind"].format(kind=service.office_kind),
                    f"service {service.id}",
                    "office_kind",
                    _line_for(("services", index, "office_kind"), lines),
                )
            )
    return problems


def load(text: str, fmt: str, known_office_kinds: set[str] | None = None) -> CatalogFile:
    """Validate a whole file; raise ``CatalogError`` listing every problem found."""
    data, lines = parse(text, fmt)
    try:
        catalog = CatalogFile.model_validate(data)
    except ValidationError as exc:
        problems = []
        for err in exc.errors():
            path: PathKey = tuple(err["loc"])
            # Drop pydantic's union/literal tags so paths match the file.
            path = tuple(
                p for p in path if isinstance(p, int) or not str(p).startswith("function-")
            )
            problems.append(
                Problem(
                    err["msg"],
                    _item_for(path, data),
                    _field_for(path) or None,
                    _line_for(path, lines),
                )
            )
        raise CatalogError(problems) from None
    problems = _cross_checks(catalog, lines, known_office_kinds or set())
    if problems:
        raise CatalogError(problems)
    return catalog


def format_of(path: PurePath) -> str:
    suffix = path.suffix.lower()
    if suffix in (".yml", ".yaml"):
        return "yaml"
    if suffix == ".json":
        return "json"
    raise CatalogError([Problem(PROBLEMS["unknown_file_type"].format(suffix=suffix))])
