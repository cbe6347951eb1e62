"""Understanding people as they really speak, measured through the running dialogue.

Three held-out sets (tests/eval/, never used in training), each turn the first of a new
conversation sent to the real stack (Rasa, the action server, the catalog):

- elderly requests (context first, vague descriptions, misheard names, a service named
  with a question about it): resolved = the right service answered, or among the
  services the assistant asks about; wrong service answered confidently = another
  service's guide read out without asking;
- complaint descriptions in everyday words: the category the assistant puts to the
  citizen ("听起来是“路灯”方面的问题，对吗？"); also the category model alone;
- nonsense and noise: acknowledged as understood = any reply but the not-understood path
  (ask again, offer choices, offer a person, "没找到").

The request and complaint sets are also spoken (test audio, 8 kHz μ-law), heard by the
phone line's recogniser and sent to the dialogue: the service or category right end to end.

Beside them, in the same run, the held-out figures of the catalog search and of NLU
(benchmarks/catalog.py), which must not drop.
"""

from __future__ import annotations

import re
import tempfile
import time
import uuid
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from benchmarks import catalog
from benchmarks.cer import character_error_rate
from benchmarks.perturb import EVAL_DIR
from benchmarks.report import section
from benchmarks.voice import recognizer_with_beam
from liangwang.catalog.loader import load
from liangwang.catalog.store import SAMPLE_CATALOG
from liangwang.complaints.categories import load_categories
from liangwang.dialogue import to_message
from liangwang.settings import PROJECT_ROOT, Settings, SttEngine
from liangwang.wording import responses
from ops.harness import RunningStack, make_stack
from voice.audio import Audio
from voice.hints import ALWAYS, RecognitionHints, request_vocabulary
from voice.model_install import install_whisper_base
from voice.ports import SpeechRecognizer
from voice.recognizers import load_now, make_recognizer
from voice.reply_plan import ReplyPlan
from voice.session import GREETING

REQUESTS = EVAL_DIR / "elderly_requests.yml"
COMPLAINTS = EVAL_DIR / "complaint_descriptions.yml"
NONSENSE = EVAL_DIR / "nonsense.yml"
SPOKEN = PROJECT_ROOT / "tests" / "fixtures" / "voice_eval"
# The replies of the not-understood path.
NOT_UNDERSTOOD = (
    "utter_ask_rephrase",
    "utter_out_of_scope",
    "utter_offer_choices",
    "utter_offer_human",
    "utter_service_not_found",
)
ASKING = ("utter_confirm_service", "utter_which_service")


def items(path: Path) -> list[dict[str, Any]]:
    loaded: list[dict[str, Any]] = yaml.safe_load(path.read_text(encoding="utf-8"))["items"]
    return loaded


def _pattern(template: str) -> re.Pattern[str]:
    """A response template as a regular expression, each variable a group."""
    parts = re.split(r"\{(\w+)\}", template)
    body = "".join(
        f"(?P<{part}>.+?)" if index % 2 else re.escape(part) for index, part in enumerate(parts)
    )
    return re.compile(body + "$", re.DOTALL)


@dataclass
class Reading:
    """What a first reply did."""

    not_understood: bool = False
    asked: list[str] = field(default_factory=list)  # services put to the citizen
    answered: str | None = None  # the service whose guide was read out
    category: str | None = None  # the complaint category put to the citizen


class ReplyReader:
    def __init__(self) -> None:
        domain = responses()
        services = load(SAMPLE_CATALOG.read_text(encoding="utf-8"), "yaml").services
        self.services = services
        # Longest names first, so that no name is found inside a longer one.
        self._names = sorted(((s.name, s.id) for s in services), key=lambda n: -len(n[0]))
        self._fallback = {str(v["text"]) for name in NOT_UNDERSTOOD for v in domain[name]}
        self._asking = [_pattern(str(v["text"])) for name in ASKING for v in domain[name]]
        self._category = [
            _pattern(str(v["text"])) for v in domain["utter_complaint_confirm_category"]
        ]
        self._category_codes = {c.name: c.code for c in load_categories().items}

    def _services_in(self, text: str) -> list[str]:
        """The services named in a text, in order; a name inside a longer one found there
        does not count."""
        found: list[tuple[int, str]] = []
        taken: list[tuple[int, int]] = []
        for name, service_id in self._names:
            at = text.find(name)
            while at >= 0:
                end = at + len(name)
                if not any(a <= at and end <= b for a, b in taken):
                    taken.append((at, end))
                    found.append((at, service_id))
                    break
                at = text.find(name, at + 1)
        return [service_id for _, service_id in sorted(found)]

    def read(self, messages: list[dict[str, object]]) -> Reading:
        texts = [str(m.get("text") or "") for m in messages]
        if not texts or texts[0] in self._fallback:
            return Reading(not_understood=True)
        for text in texts:
            for pattern in self._category:
                if match := pattern.match(text):
                    return Reading(category=self._category_codes.get(match["category"]))
        for text in texts:
            if any(p.match(text) for p in self._asking):
                return Reading(asked=self._services_in(text))
        found = self._services_in(texts[0]) or self._services_in(" ".join(texts))
        return Reading(answered=found[0] if found else None)


def _first_replies(stack: RunningStack, texts: list[str]) -> list[list[dict[str, object]]]:
    return [stack.say(f"bench-{uuid.uuid4().hex[:12]}", text) for text in texts]


def dialogue_rows(stack: RunningStack) -> list[tuple[str, str, str]]:
    reader = ReplyReader()
    rows: list[tuple[str, str, str]] = []

    requests = items(REQUESTS)
    readings = [reader.read(r) for r in _first_replies(stack, [i["text"] for i in requests])]
    resolved = wrong = 0
    for item, reading in zip(requests, readings, strict=True):
        resolved += reading.answered == item["service_id"] or item["service_id"] in reading.asked
        wrong += reading.answered is not None and reading.answered != item["service_id"]
    n = len(requests)
    rows.append(
        (f"elderly requests resolved in dialogue ({n})", f"{100 * resolved / n:.1f} %", "≥ 90 %")
    )
    rows.append(("… wrong service answered confidently", f"{100 * wrong / n:.1f} %", "≤ 2 %"))

    complaints = items(COMPLAINTS)
    texts = [i["text"] for i in complaints]
    readings = [reader.read(r) for r in _first_replies(stack, texts)]
    right = sum(r.category == i["category"] for i, r in zip(complaints, readings, strict=True))
    started = sum(r.category is not None for r in readings)
    model = load_categories()
    alone = sum(model.classify(i["text"]).code == i["category"] for i in complaints)
    n = len(complaints)
    rows.append(
        (f"complaint category top-1 in dialogue ({n})", f"{100 * right / n:.1f} %", "≥ 90 %")
    )
    rows.append(("… complaint started at all", f"{100 * started / n:.1f} %", "—"))
    rows.append(("… category model alone", f"{100 * alone / n:.1f} %", "—"))

    nonsense = items(NONSENSE)
    readings = [reader.read(r) for r in _first_replies(stack, [i["text"] for i in nonsense])]
    acknowledged = [
        i["text"] for i, r in zip(nonsense, readings, strict=True) if not r.not_understood
    ]
    n = len(nonsense)
    rows.append(
        (
            f"nonsense and noise acknowledged as understood ({n})",
            f"{100 * len(acknowledged) / n:.1f} %",
            "≤ 2 %",
        )
    )
    return rows


def hear(
    recognizer: SpeechRecognizer,
    clip: dict[str, Any],
    hints: Sequence[str],
    vocabulary: Sequence[str] = (),
) -> str:
    """What the recogniser makes of one spoken clip of the manifest, as one turn."""
    audio = Audio.from_wav(SPOKEN / clip["file"])
    stream = recognizer.start(audio.rate, hints, vocabulary)
    stream.accept(audio.pcm)
    return stream.finish().text


def spoken_rows(stack: RunningStack, whisper: Path) -> list[tuple[str, str, str]]:
    """The request and complaint sets spoken (tests/fixtures/voice_eval: 8 kHz μ-law, as
    the phone line receives them), heard by the phone line's recogniser with the hints the
    line gives after its greeting (and the catalog's vocabulary for an open request, as
    the line reads it from the catalog), the words sent to the dialogue as the first turn."""
    settings = Settings(stt_engine=SttEngine.whisper, whisper_model=whisper)
    recognizer = load_now(make_recognizer(settings, escape_phrases=ALWAYS))
    reader = ReplyReader()
    manifest = yaml.safe_load((SPOKEN / "manifest.yml").read_text(encoding="utf-8"))
    rows: list[tuple[str, str, str]] = []
    heard_pairs: list[tuple[str, str]] = []
    known = RecognitionHints(vocabulary=request_vocabulary(reader.services))
    greeting_hints: tuple[str, ...] = ()
    greeting_vocabulary: tuple[str, ...] = ()
    right = total = 0
    for name, label in (("requests", "service"), ("complaints", "category")):
        clips = manifest[name]["clips"]
        got = 0
        for clip in clips:
            conversation = f"bench-{uuid.uuid4().hex[:12]}"
            greeting = stack.say(conversation, GREETING)
            plan = ReplyPlan.from_messages([to_message(m) for m in greeting])
            greeting_hints = plan.hints(known)
            greeting_vocabulary = plan.vocabulary(known)
            heard = hear(recognizer, clip, greeting_hints, greeting_vocabulary)
            heard_pairs.append((clip.get("spoken", clip["text"]), heard))
            reading = reader.read(stack.say(conversation, heard))
            want = clip["label"]
            got += (
                reading.answered == want or want in reading.asked
                if label == "service"
                else reading.category == want
            )
        rows.append(
            (
                f"spoken {name} ({len(clips)}, 8 kHz μ-law, Whisper base): {label} right",
                f"{100 * got / len(clips):.1f} %",
                "≥ 80 %",
            )
        )
        right += got
        total += len(clips)
    rows.append(("… both sets together", f"{100 * right / total:.1f} %", "≥ 80 %"))
    beam = settings.whisper_beam_size
    cer = character_error_rate(heard_pairs)
    rows.append(
        (f"… what the recogniser heard, character error rate (beam {beam})", f"{cer:.1%}", "—")
    )
    rows.append(other_beam_row(settings, manifest, greeting_hints, greeting_vocabulary))
    return rows


def other_beam_row(
    settings: Settings,
    manifest: dict[str, Any],
    hints: tuple[str, ...],
    vocabulary: tuple[str, ...],
) -> tuple[str, str, str]:
    """The same clips heard with the other beam size: its error rate and decode time."""
    beam = 5 if settings.whisper_beam_size == 1 else 1
    other = recognizer_with_beam(settings, beam)
    pairs: list[tuple[str, str]] = []
    started = time.perf_counter()
    clips = [clip for name in ("requests", "complaints") for clip in manifest[name]["clips"]]
    for clip in clips:
        pairs.append((clip.get("spoken", clip["text"]), hear(other, clip, hints, vocabulary)))
    per_clip = (time.perf_counter() - started) / len(clips)
    return (
        f"… heard with beam {beam} instead: character error rate, decode time per clip",
        f"{character_error_rate(pairs):.1%}, {per_clip:.2f} s",
        "—",
    )


def run() -> list[str]:
    rows = catalog.search_rows() + catalog.nlu_rows()
    with tempfile.TemporaryDirectory() as tmp:
        whisper = install_whisper_base(Path(tmp) / "whisper-base")
        stack = make_stack(Path(tmp) / "data")
        stack.start()
        try:
            rows += dialogue_rows(stack)
            rows += spoken_rows(stack, whisper)
        finally:
            stack.stop()
    return section("## Understanding: catalog search, NLU and the dialogue (held-out data)", rows)
