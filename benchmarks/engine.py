"""Engine: what loading the model and a message cost inside one Rasa process, Rasa's own
way beside ours.

Loading: the trained model loaded in a new Rasa process, Rasa's own way and ours
(bot/prediction_load.py) taking turns; seconds to load, resident memory after it and at
its peak.

A message: the model is loaded once; the load benchmark's messages are then parsed (and,
for a turn, the next action predicted) in rounds that take turns between three ways of
running the same loaded model: Rasa's own (dask's scheduler, ``tf.function``'s dispatch),
with our graph runner (bot/graph_runner.py), and with DIET also calling its traced graph
directly, traced as bot/prediction_load.py traces it (bot/traced_prediction.py, what
bot/rasa_start.py runs). Taking turns in one process puts the machine's noise on all three
alike; medians over the rounds.
"""

from __future__ import annotations

import json
import statistics
from pathlib import Path
from typing import Any

from benchmarks.load import COMPLAINT, GUIDE
from benchmarks.report import section
from liangwang.settings import Settings
from ops.rasa_engine import run_rasa_script, train

ROUNDS = 16
CONVERSATIONS_PER_ROUND = 5
LOAD_ROUNDS = 3

LOAD_SCRIPT = """
import json, sys, time
if sys.argv[2] == "ours":
    import prediction_load
    prediction_load.install()
from rasa.core.agent import Agent

started = time.perf_counter()
Agent.load(sys.argv[1])
took = time.perf_counter() - started
status = dict(line.split(":", 1) for line in open("/proc/self/status"))
mib = {key: int(status[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM")}
print(json.dumps({"s": took, "rss": mib["VmRSS"], "peak": mib["VmHWM"]}))
"""

SCRIPT = """
import asyncio, json, statistics, sys, time
import graph_runner, prediction_load
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage
from rasa.nlu.classifiers.diet_classifier import DIETClassifier

graph_runner.install()
model, messages, rounds, per_round = sys.argv[1], json.loads(sys.argv[2]), *map(int, sys.argv[3:])

async def main():
    processor = Agent.load(model).processor
    ours = processor.graph_runner
    dask = graph_runner.dask_runner_like(ours)
    nodes = ours._instantiated_nodes.values()
    diet = next(n._component for n in nodes if isinstance(n._component, DIETClassifier))
    dispatched = diet.model._tf_predict_step
    served = prediction_load.prediction_step(diet.model, dispatched.input_signature)
    served = served.get_concrete_function()
    ways = {"rasa": (dask, dispatched), "runner": (ours, dispatched), "traced": (ours, served)}
    said = 0

    async def conversation(turn):
        nonlocal said
        said += 1
        tracker = await processor.fetch_tracker_and_update_session(f"bench-{said}")
        for text in messages:
            if turn:
                await processor._handle_message_with_tracker(UserMessage(text), tracker)
                processor._predict_next_with_tracker(tracker)
            else:
                await processor.parse_message(UserMessage(text))

    ms = {(way, turn): [] for way in ways for turn in (False, True)}
    for _ in range(rounds):
        for (way, turn), seen in ms.items():
            processor.graph_runner, diet.model._tf_predict_step = ways[way]
            started = time.perf_counter()
            for _ in range(per_round):
                await conversation(turn)
            seen.append(1000 * (time.perf_counter() - started) / (per_round * len(messages)))
    return {f"{way} {'turn' if turn else 'parse'}": statistics.median(seen)
            for (way, turn), seen in ms.items()}

print(json.dumps(asyncio.run(main())))
"""


def _in_rasa(settings: Settings, script: str, *args: str) -> Any:
    """What ``script`` printed last, as JSON, run by a new Rasa Python."""
    return json.loads(run_rasa_script(settings, script, *args).strip().splitlines()[-1])


def _loads(settings: Settings, model: Path) -> dict[str, dict[str, float]]:
    seen: dict[str, list[dict[str, float]]] = {"rasa": [], "ours": []}
    for _ in range(LOAD_ROUNDS):
        for way, loads in seen.items():
            loads.append(_in_rasa(settings, LOAD_SCRIPT, str(model), way))
    return {
        way: {key: statistics.median(load[key] for load in loads) for key in loads[0]}
        for way, loads in seen.items()
    }


def _load_rows(settings: Settings, model: Path) -> list[tuple[str, str, str]]:
    loads = _loads(settings, model)
    rasa, ours = loads["rasa"], loads["ours"]
    rows = []
    for key, what, unit in (
        ("s", "the model loaded", "s"),
        ("rss", "resident memory once loaded", "MiB"),
        ("peak", "peak resident memory while loading", "MiB"),
    ):
        digits = 1 if unit == "s" else 0
        rows.append(
            (
                f"{what}, Rasa's own way (a training step traced)",
                f"{rasa[key]:.{digits}f} {unit}",
                "anchor",
            )
        )
        ratio = ours[key] / rasa[key]
        rows.append(
            (f"{what}, ours (as served)", f"{ours[key]:.{digits}f} {unit} ({ratio:.2f}×)", "< 1×")
        )
    return rows


def run() -> list[str]:
    settings = Settings()
    model, _ = train(settings)
    rows = _load_rows(settings, model)
    messages = GUIDE + [said.format(n=12) for said in COMPLAINT]
    ms: dict[str, float] = _in_rasa(
        settings,
        SCRIPT,
        str(model),
        json.dumps(messages),
        str(ROUNDS),
        str(CONVERSATIONS_PER_ROUND),
    )
    for kind, what in (
        ("parse", "a message parsed"),
        ("turn", "a message parsed and the next action predicted"),
    ):
        anchor = ms[f"rasa {kind}"]
        rows.append(
            (f"{what}, Rasa's own way (dask, tf.function dispatch)", f"{anchor:.2f} ms", "anchor")
        )
        for way, how in (
            ("runner", "our graph runner"),
            ("traced", "our graph runner and DIET's traced graph (as served)"),
        ):
            value = ms[f"{way} {kind}"]
            rows.append((f"{what}, {how}", f"{value:.2f} ms ({value / anchor:.2f}×)", "< 1×"))
    return section(
        "## Engine: loading the model and a message inside one Rasa process",
        rows,
        intro=[
            f"Loading: a new Rasa process each time, Rasa's own way and ours taking turns, "
            f"{LOAD_ROUNDS} each; medians. A message: the trained model loaded once; the "
            f"load benchmark's messages (a guide asked "
            f"about, a street lamp reported) run in {ROUNDS} rounds of "
            f"{CONVERSATIONS_PER_ROUND} conversations, each round taking turns between the "
            "ways below on the same loaded model. Medians per message. In brackets: the "
            "ratio to Rasa's own way in the same run.",
        ],
    )
