"""Run every benchmark suite and write docs/benchmarks.md (machine and date included)."""

from __future__ import annotations

import argparse
from collections.abc import Callable
from pathlib import Path

from benchmarks import (
    abuse,
    asr,
    channels,
    engine,
    hearing,
    load,
    review,
    stack,
    staff_desk,
    tickets,
    tts,
    understanding,
    voice,
    voice_output,
)
from benchmarks.machine import describe

SUITES: dict[str, Callable[[], list[str]]] = {
    "stack": stack.run,
    "understanding": understanding.run,
    "tickets": tickets.run,
    "staff_desk": staff_desk.run,
    "channels": channels.run,
    "review": review.run,
    "asr": asr.run,
    "hearing": hearing.run,
    "tts": tts.run,
    "voice_output": voice_output.run,
    "voice": voice.run,
    "abuse": abuse.run,
    "load": load.run,
    "engine": engine.run,
}
OUT = Path(__file__).resolve().parent.parent / "docs" / "benchmarks.md"


def main() -> None:
    parser = argparse.ArgumentParser(description="liangwang-assist benchmarks")
    parser.add_argument("--only", choices=sorted(SUITES), action="append")
    args = parser.parse_args()
    header = [
        "# Benchmarks",
        "",
        "Written by `make bench`. Medians and percentiles; these machines are noisy, so",
        "compare ratios and orders of magnitude rather than single milliseconds.",
        "",
    ]
    # With --only, the other suites keep the sections of their last run.
    sections = _sections(OUT.read_text(encoding="utf-8")) if OUT.exists() else {}
    for name in args.only or SUITES:
        print(f"running {name} …", flush=True)
        sections[name] = "\n".join([*SUITES[name](), "", f"Run on: {describe()}"])
    body = [sections[name] + "\n" for name in SUITES if name in sections]
    OUT.parent.mkdir(parents=True, exist_ok=True)
    OUT.write_text("\n".join(header + body), encoding="utf-8")
    print(OUT.read_text(encoding="utf-8"))


SECTION_TITLES = {
    "stack": "## Foundation",
    "understanding": "## Understanding",
    "tickets": "## 一网统管",
    "staff_desk": "## Staff desk",
    "channels": "## Channels",
    "review": "## Conversation review",
    "asr": "## Speech recognition",
    "hearing": "## Hearing",
    "tts": "## Text-to-speech",
    "voice_output": "## Voice output",
    "voice": "## Phone line",
    "abuse": "## Abuse",
    "load": "## Load",
    "engine": "## Engine",
}


def _sections(text: str) -> dict[str, str]:
    """The suites' sections of an earlier docs/benchmarks.md, by suite name."""
    out: dict[str, str] = {}
    for chunk in text.split("\n## ")[1:]:
        block = ("## " + chunk).strip()
        for name, title in SECTION_TITLES.items():
            if block.startswith(title):
                out[name] = block
    return out


if __name__ == "__main__":
    main()
