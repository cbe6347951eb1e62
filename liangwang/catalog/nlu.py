"""Generate NLU training data from the catalog (``liangwang catalog nlu`` / ``make nlu``):
lookup tables and synonyms for the ``service`` and ``district`` entities, examples from
sentence templates — ``ask_service`` for every name of every service, and the follow-up
questions (materials, place, time, fee, …) with a service named in them — and the Jieba
user dictionary. Never edit by hand."""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

import yaml

from liangwang.catalog.schema import Service
from liangwang.districts import (
    DISTRICT_SUFFIX,
    DISTRICTS,
    NEW_DISTRICT_SUFFIX,
    district_names,
)
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
# Official names carry the issuing body and the procedure ("上海市敬老卡申领"); people say
# just the thing ("敬老卡"). These are peeled off to get the short form.
_PREFIXES = ("上海市", "中华人民共和国", "本市")
_SUFFIXES = ("申领", "申请", "办理", "补办", "换领", "补领", "补换", "领取", "服务")
_NOT_AN_ENDING = ("首次", "一站式", "损坏", "与", "和", "及")
# "办老年卡" names the service as 老年卡: the verb in front is not part of the name.
_DO_PREFIX = "办"


def _speakable(name: str) -> str:
    """A name as people say it: no bracketed parts, no list punctuation (which also keeps
    entity annotations aligned with Jieba's tokens)."""
    return _PUNCTUATION.sub("", _BRACKETED.sub("", name)).strip()


def _short_form(name: str) -> str:
    """The thing itself, without issuer, procedure or a leading verb: 上海市敬老卡申领 →
    敬老卡, 身份证换领 → 身份证, 办退休 → 退休. The name itself when nothing is left to peel."""
    short = _speakable(name)
    for prefix in _PREFIXES:
        short = short.removeprefix(prefix)
    peeled = True
    while peeled:
        peeled = False
        for suffix in _SUFFIXES:
            if short.endswith(suffix) and len(short) - len(suffix) >= 2:
                short = short.removesuffix(suffix)
                peeled = True
    if short.startswith(_DO_PREFIX) and len(short) >= 3:
        short = short[1:]
    return _speakable(name) if short.endswith(_NOT_AN_ENDING) else short


def _service_names(services: list[Service]) -> dict[str, list[str]]:
    """Service id → every speakable name, official first, short forms added. A short form
    that could mean two services, or that is another service's name, is left out."""
    spoken = {s.id: list(dict.fromkeys(_speakable(n) for n in s.all_names())) for s in services}
    everywhere = {n for names in spoken.values() for n in names}
    owners: dict[str, set[str]] = defaultdict(set)
    for service in services:
        for name in spoken[service.id]:
            owners[_short_form(name)].add(service.id)
    result: dict[str, list[str]] = {}
    for service in services:
        names: list[str] = []
        for name in spoken[service.id]:
            short = _short_form(name)
            names.append(name)
            if short != name and len(owners[short]) == 1 and short not in everywhere:
                names.append(short)
        result[service.id] = list(dict.fromkeys(names))
    return result


# A verb said before a service's name (补办身份证, 吃低保, 办残疾证): the entity is the
# thing, so the tokenizer must cut the verb off — such names stay out of the dictionary.
_VERBS_BEFORE = ("补办", "办", "换", "领", "吃", "取", "提", "打")


def _verb_and_thing(name: str, names: list[str]) -> tuple[str, str]:
    """("补办", "身份证") for 补办身份证 when 身份证 is also a name; ("", name) otherwise."""
    for verb in _VERBS_BEFORE:
        if name.startswith(verb) and name.removeprefix(verb) in names:
            return verb, name.removeprefix(verb)
    return "", name


class _Block(str):
    """A string YAML writes as a literal block (Rasa's `examples: |`)."""


def _block_representer(dumper: yaml.SafeDumper, value: _Block) -> yaml.ScalarNode:
    return dumper.represent_scalar("tag:yaml.org,2002:str", str(value), style="|")


class _Dumper(yaml.SafeDumper):
    pass


_Dumper.add_representer(_Block, _block_representer)


def _examples(lines: list[str]) -> _Block:
    return _Block("".join(f"- {line}\n" for line in lines))


_QUESTION_WORDS = ("怎么", "什么", "吗", "哪")
_TEMPLATE_VERBS = ("办", "申请", "弄", "搞")  # a template that ends with one of these …
_PROCEDURE = ("办", "申请", "申领", "弄")  # … takes no name that says it again


def _fits(template: str, name: str) -> bool:
    """Whether a name reads naturally in a template: a name that is itself a question
    (身份证丢了怎么办) only ends a sentence, and no verb twice (申请敬老卡申请)."""
    before, after = template.split("{name}")
    if any(w in name for w in _QUESTION_WORDS) and after:
        return False
    return not (before.endswith(_TEMPLATE_VERBS) and any(p in name for p in _PROCEDURE))


def _fitting(templates: list[str], start: int, name: str) -> str:
    """The first template from ``start`` (rotating) the name fits."""
    for k in range(len(templates)):
        template = templates[(start + k) % len(templates)]
        if _fits(template, name):
            return template
    return "{name}"


def _fill(template: str, name: str, service: Service, names: list[str]) -> str:
    before, after = template.split("{name}")
    verb, thing = _verb_and_thing(name, names)
    if thing == service.name:
        entity = f"[{thing}](service)"
    else:  # the synonym maps to the official name, which search knows best
        entity = f'[{thing}]{{"entity": "service", "value": "{service.name}"}}'
    return f"{before}{verb}{entity}{after}"


def _district_words() -> tuple[list[str], list[str]]:
    """(names, split): how people name districts, and the official "X区" forms the
    tokenizer must cut in two — the entity is the name (徐汇, 闸北), "区" is not part of it,
    as in 住[徐汇](district)区. 浦东新区 is a name in itself."""
    names = [
        n
        for n in district_names()
        if not n.endswith(DISTRICT_SUFFIX) or n.endswith(NEW_DISTRICT_SUFFIX)
    ]
    split = [n + DISTRICT_SUFFIX for n in names if not n.endswith(DISTRICT_SUFFIX)]
    return names, split


def generate(services: list[Service]) -> GeneratedNlu:
    templates = yaml.safe_load(TEMPLATES.read_text(encoding="utf-8"))
    ask_templates: list[str] = templates["ask_service"]
    described_templates: list[str] = templates["described"]
    contexts: list[str] = templates["contexts"]
    follow_ups: dict[str, list[str]] = templates["follow_ups"]
    ordered = sorted(services, key=lambda s: s.id)
    names = _service_names(ordered)
    ask_service: list[str] = []
    asked: dict[str, list[str]] = {intent: [] for intent in follow_ups}
    turn = 0
    for number, service in enumerate(ordered):
        own = names[service.id]
        for name in own:
            # One template per name, rotating, so every template meets many names.
            template = _fitting(ask_templates, turn, name)
            ask_service.append(_fill(template, name, service, own))
            turn += 1
        # Once per service, a request after some words about the caller's life.
        template = _fitting(ask_templates, turn, own[0])
        context = contexts[number % len(contexts)]
        ask_service.append(f"{context}，{_fill(template, own[0], service, own)}")
        turn += 1
        # Each follow-up question once per service, with a different name each time, so
        # that a service named in a question does not make it a request for the service.
        # Names that are questions themselves (身份证丢了怎么办) do not take a question.
        things = [n for n in own if not any(w in n for w in _QUESTION_WORDS)] or own
        for k, (intent, phrasings) in enumerate(follow_ups.items()):
            name = things[(number + k) % len(things)]
            template = _fitting(phrasings, number + 3 * k, name)
            asked[intent].append(_fill(template, name, service, own))
    # Descriptions in plain words ("老人坐公交不要钱"), each once, as requests without an
    # entity: the action resolves the whole sentence through the catalog search.
    descriptions = [d for service in ordered for d in service.described_as]
    ask_service += [
        described_templates[k % len(described_templates)].format(name=d)
        for k, d in enumerate(descriptions)
    ]
    districts = district_names()
    district_words, district_split = _district_words()
    # Longest first: the lookup regex takes the first alternative that matches.
    service_words = sorted(
        {n for own in names.values() for n in own if not _verb_and_thing(n, own)[0]},
        key=lambda n: (-len(n), n),
    )
    nlu: list[dict[str, object]] = [{"intent": "ask_service", "examples": _examples(ask_service)}]
    nlu += [{"intent": intent, "examples": _examples(lines)} for intent, lines in asked.items()]
    nlu += [
        {"lookup": "service", "examples": _examples(service_words)},
        {
            "lookup": "district",
            "examples": _examples(sorted(district_words, key=lambda d: (-len(d), d))),
        },
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
    words = {w: 20000 for w in sorted({*service_words, *district_words})}
    words.update({w: 0 for w in district_split})  # frequency 0: Jieba always splits it
    jieba = "".join(f"{word} {freq} nz\n" for word, freq in sorted(words.items()))
    return GeneratedNlu(text, jieba)


def write(generated: GeneratedNlu) -> list[Path]:
    for path, content in ((GENERATED_NLU, generated.nlu_yaml), (JIEBA_DICT, generated.jieba_dict)):
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(content, encoding="utf-8")
    return [GENERATED_NLU, JIEBA_DICT]
