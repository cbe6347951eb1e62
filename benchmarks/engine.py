"""Engine: what a message costs inside one Rasa process, Rasa's own way beside ours.

The trained model is loaded once; the load benchmark's messages are then parsed (and, for a
turn, the next action predicted) in rounds that take turns between three ways of running
the same loaded model: Rasa's own (dask's scheduler, ``tf.function``'s dispatch), with our
graph runner (bot/graph_runner.py), and with DIET also calling its traced graph directly
(bot/traced_prediction.py, what bot/rasa_start.py runs). Taking turns in one process puts
the machine's noise on all three alike; medians over the rounds.
"""

from __future__ import annotations

import json
import subprocess

from benchmarks.load import COMPLAINT, GUIDE
from benchmarks.report import section
from liangwang.settings import PROJECT_ROOT, Settings
from ops.rasa_engine import rasa_env_with_bot, train

ROUNDS = 16
CONVERSATIONS_PER_ROUND = 5

SCRIPT = """
import asyncio, json, statistics, sys, time
import graph_runner, traced_prediction
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
    ways = {"rasa": (dask, dispatched), "runner": (ours, dispatched),
            "traced": (ours, dispatched.get_concrete_function())}
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


def _medians() -> dict[str, float]:
    settings = Settings()
    model, _ = train(settings)
    messages = GUIDE + [said.format(n=12) for said in COMPLAINT]
    python = str(settings.rasa_venv / "bin" / "python")
    args = [str(model), json.dumps(messages), str(ROUNDS), str(CONVERSATIONS_PER_ROUND)]
    done = subprocess.run(
        [python, "-c", SCRIPT, *args],
        env=rasa_env_with_bot(settings),
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        check=True,
    )
    medians: dict[str, float] = json.loads(done.stdout.strip().splitlines()[-1])
    return medians


def run() -> list[str]:
    ms = _medians()
    rows = []
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
        "## Engine: a message inside one Rasa process",
        rows,
        intro=[
            f"The trained model loaded once; the load benchmark's messages (a guide asked "
            f"about, a street lamp reported) run in {ROUNDS} rounds of "
            f"{CONVERSATIONS_PER_ROUND} conversations, each round taking turns between the "
            "ways below on the same loaded model. Medians per message. In brackets: the "
            "ratio to Rasa's own way in the same run.",
        ],
    )
