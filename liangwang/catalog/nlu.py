"""Generate NLU training data from the catalog (``liangwang catalog nlu`` / ``make nlu``):
lookup tables and synonyms for the ``service`` and ``district`` entities, ask_service
examples from sentence templates, and the Jieba user dictionary. Never edit by hand."""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

import yaml

from liangwang.catalog.districts import FORMER_NAMES
from liangwang.catalog.schema import DISTRICTS, Service
from liangwang.settings import PROJECT_ROOT

TEMPLATES = PROJECT_ROOT / "data" / "nlu" / "ask_service_templates.yml"
GENERATED_NLU = PROJECT_ROOT / "nlu_data" / "generated" / "catalog.yml"
JIEBA_DICT = PROJECT_ROOT / "nlu_data" / "jieba" / "catalog.txt"
HEADER = "# Generated from the catalog by `liangwang catalog nlu`. Do not edit.\n"


@dataclass(frozen=True)
class GeneratedNlu:
    nlu_yaml: str
    jieba_dict: str


_BRACKETED = re.compile(r"[（(][^）)]*[）)]")
_PUNCTUATION = re.compile(r"[、，,/／]")


def _speakable(name: str) -> str:
    """A name as people say it: no bracketed parts, no list punctuation (which also keeps
    entity annotations aligned with Jieba's tokens)."""
    return _PUNCTUATION.sub("", _BRACKETED.sub("", name)).strip()


def _district_names() -> dict[str, str]:
    """Every way of naming a district → the official name."""
    names = {}
    for district in DISTRICTS:
        names[district] = district
        names[district.removesuffix("新区").removesuffix("区")] = district
    names.update(FORMER_NAMES)
    return names


class _Block(str):
    """A string YAML writes as a literal block (Rasa's `examples: |`)."""


def _block_representer(dumper: yaml.SafeDumper, value: _Block) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Block, _block_representer)


def _examples(lines: list[str]) -> _Block:
    return _Block("".join(f"- {line}\n" for line in lines))


def generate(services: list[Service]) -> GeneratedNlu:
    templates: list[str] = yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))["templates"]
    ask_service: list[str] = []
    turn = 0
    for service in sorted(services, key=lambda s: s.id):
        for name in dict.fromkeys(_speakable(n) for n in service.all_names()):
            # One template per name, rotating, so every template meets many names.
            template = templates[turn % len(templates)]
            turn += 1
            before, after = template.split("{name}")
            if name == _speakable(service.name):
                entity = f"[{name}](service)"
            else:  # the synonym maps to the official name, which search knows best
                entity = f'[{name}]{{"entity": "service", "value": "{service.name}"}}'

            ask_service.append(f"{before}{entity}{after}")
    districts = _district_names()
    nlu: list[dict[str, object]] = [
        {"intent": "ask_service", "examples": _examples(ask_service)},
        {
            "lookup": "service",
            "examples": _examples(sorted({n for s in services for n in s.all_names()})),
        },
        {"lookup": "district", "examples": _examples(sorted(districts))},
    ]
    nlu += [
        {
            "synonym": official,
            "examples": _examples(
                sorted(n for n, o in districts.items() if o == official and n != official)
            ),
        }
        for official in DISTRICTS
    ]
    text = HEADER + yaml.dump(
        {"version": "3.1", "nlu": nlu},
        Dumper=_Dumper,
        allow_unicode=True,
        sort_keys=False,
        width=1000,
    )
    names = {n for s in services for n in s.all_names()}
    words = sorted(names | {_speakable(n) for n in names} | set(districts))
    jieba = "".join(f"{word} 20000 nz\n" for word in words)
    return GeneratedNlu(text, jieba)


def write(generated: GeneratedNlu) -> list[Path]:
    for path, content in ((GENERATED_NLU, generated.nlu_yaml), (JIEBA_DICT, generated.jieba_dict)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return [GENERATED_NLU, JIEBA_DICT]
