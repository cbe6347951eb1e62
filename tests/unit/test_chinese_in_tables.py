"""Chinese in Python lives only in declared tables.

What citizens hear or read is in bot/domain.yml. Python may hold Chinese only as
vocabulary and label tables — a module-level constant with an UPPER_CASE name (the words
people say that the assistant recognises, district names, staff labels, bilingual messages
with placeholders) — or in the operator's bilingual command line (``ops/`` and the voice
commands). A Chinese literal anywhere else, e.g. spliced into an f-string inside a
function, is wording that escaped the domain file.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

from liangwang.settings import PROJECT_ROOT

PACKAGES = ("liangwang", "actions", "backoffice", "channels", "voice", "ops")
# The operator's command line: help and messages in Chinese and English by design.
BILINGUAL_CLI = ("ops/", "voice/commands.py", "voice/model_commands.py")
CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")


def _docstrings(tree: ast.Module) -> set[int]:
    found = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Module | ast.ClassDef | ast.FunctionDef | ast.AsyncFunctionDef):
            first = node.body[0] if node.body else None
            if isinstance(first, ast.Expr) and isinstance(first.value, ast.Constant):
                found.add(id(first.value))
    return found


def _table_constants(tree: ast.Module) -> set[int]:
    """Every constant inside a module-level assignment to an UPPER_CASE name."""
    found = set()
    for node in tree.body:
        targets: list[ast.expr] = []
        if isinstance(node, ast.Assign):
            targets = node.targets
        elif isinstance(node, ast.AnnAssign):
            targets = [node.target]
        names = [t.id for t in targets if isinstance(t, ast.Name)]
        if names and all(name.lstrip("_").isupper() for name in names) and node.value:
            found.update(id(n) for n in ast.walk(node.value))
    return found


def chinese_outside_tables(path: Path) -> list[str]:
    tree = ast.parse(path.read_text(encoding="utf-8"))
    allowed = _docstrings(tree) | _table_constants(tree)
    name = path.relative_to(PROJECT_ROOT) if path.is_relative_to(PROJECT_ROOT) else path.name
    return [
        f"{name}:{node.lineno}: {node.value[:30]!r}"
        for node in ast.walk(tree)
        if isinstance(node, ast.Constant)
        and isinstance(node.value, str)
        and CJK.search(node.value)
        and id(node) not in allowed
    ]


def project_modules() -> list[Path]:
    modules = []
    for package in PACKAGES:
        for path in sorted((PROJECT_ROOT / package).rglob("*.py")):
            relative = path.relative_to(PROJECT_ROOT).as_posix()
            if "migrations" in relative or relative.startswith(BILINGUAL_CLI):
                continue
            modules.append(path)
    return modules


def test_no_chinese_literal_outside_tables() -> None:
    leaks = [leak for path in project_modules() for leak in chinese_outside_tables(path)]
    assert leaks == []


def test_the_check_finds_a_literal_in_a_function(tmp_path: Path) -> None:
    sample = tmp_path / "sample.py"
    sample.write_text(
        'WORDS = ("好的", "对")\n\ndef f(x):\n    """说明。"""\n    return f"附近{x}"\n',
        encoding="utf-8",
    )
    assert [leak.split(": ", 1)[1] for leak in chinese_outside_tables(sample)] == ["'附近'"]
