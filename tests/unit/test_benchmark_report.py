"""The benchmarks' report names the stack's processes as the stack does, and never by a
folder of the machine it ran on."""

from __future__ import annotations

from pathlib import Path

from benchmarks.stack import process_name
from liangwang.settings import Settings
from ops.stack import build_stack, phone_spec, telegram_spec


def test_each_process_of_the_stack_is_named_as_the_stack_names_it() -> None:
    settings = Settings(phone_enabled=False)
    specs = [
        *build_stack(settings, Path("model.tar.gz")).processes,
        telegram_spec(settings),
        phone_spec(settings),
    ]
    assert {process_name(" ".join(spec.argv)): spec.name for spec in specs} == {
        spec.name: spec.name for spec in specs
    }
    assert process_name("/somewhere/bin/python -m something.else") == "python"
