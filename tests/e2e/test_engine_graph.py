"""The trained model, loaded as bot/rasa_start.py loads it, runs on bot/graph_runner.py with
DIET calling its traced graph directly (bot/traced_prediction.py), and understands and
predicts exactly as it does on Rasa's dask runner with tf.function's dispatch."""

from __future__ import annotations

import json

import pytest

from liangwang.settings import Settings
from ops.rasa_engine import train
from tests.rasa_python import run_in_rasa

pytestmark = pytest.mark.e2e

# A guide asked about and a complaint begun, in an elderly caller's words: each message
# parsed, then the next action predicted from the conversation so far.
SCRIPT = """
import asyncio, json, sys
import graph_runner, traced_prediction
graph_runner.install()
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage

MESSAGES = ["你好", "我爸八十多了，想办个敬老卡，家里人能代办吗", "要带什么材料", "继续",
            "我要投诉，路灯坏了", "对", "杨浦区", "国和路12号", "转人工", "嗯嗯那个啥"]

async def talk(processor, sender):
    tracker = await processor.fetch_tracker_and_update_session(sender)
    turns = []
    for text in MESSAGES:
        parsed = await processor.parse_message(UserMessage(text))
        await processor._handle_message_with_tracker(UserMessage(text), tracker)
        predicted = processor._predict_next_with_tracker(tracker)
        action = processor.domain.action_names_or_texts[predicted.max_confidence_index]
        turns.append({"parsed": parsed, "action": action, "policy": predicted.policy_name,
                      "confidence": predicted.max_confidence})
    return turns

async def main():
    processor = Agent.load(sys.argv[1]).processor
    ours = processor.graph_runner
    # Rasa's own way first: its dask runner on the same loaded nodes, DIET's predictions
    # dispatched by tf.function.
    dask = graph_runner.dask_runner_like(ours)
    processor.graph_runner = dask
    rasas = await talk(processor, "rasa")
    traced_prediction.install()
    processor.graph_runner = ours
    said = await talk(processor, "ours")
    models = [getattr(node._component, "model", None) for node in ours._instantiated_nodes.values()]
    steps = {type(m._tf_predict_step).__name__ for m in models if hasattr(m, "_tf_predict_step")}
    return {"runner": type(ours).__name__, "rasa": rasas, "ours": said, "steps": sorted(steps)}

print(json.dumps(asyncio.run(main()), ensure_ascii=False))
"""


def test_the_engine_runs_its_model_node_after_node_with_rasas_answers() -> None:
    settings = Settings()
    model, _ = train(settings)
    out = run_in_rasa(settings, SCRIPT, args=(str(model),))
    seen = json.loads(out.strip().splitlines()[-1])
    assert seen["runner"] == "SequentialGraphRunner"
    assert seen["steps"] == ["ConcreteFunction"]  # DIET's, called without dispatch
    assert seen["ours"] == seen["rasa"]
    turns = seen["ours"]
    assert len(turns) == 10
    assert turns[1]["parsed"]["intent"]["name"] != "nlu_fallback"
    assert all(turn["action"] for turn in turns)
