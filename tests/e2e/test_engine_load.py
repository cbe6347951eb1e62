"""The trained model loaded for serving as bot/rasa_start.py loads it (bot/prediction_load.py:
DIET's weights built by one eager pass, no training step traced, its prediction traced
without AutoGraph) understands exactly as when loaded Rasa's own way."""

from __future__ import annotations

import json

import pytest

from liangwang.settings import Settings
from ops.rasa_engine import train
from tests.rasa_python import run_in_rasa

pytestmark = pytest.mark.e2e

SCRIPT = """
import asyncio, json, sys
import prediction_load
from rasa.core.agent import Agent
from rasa.core.channels.channel import UserMessage

MESSAGES = ["你好", "我爸八十多了，想办个敬老卡，家里人能代办吗", "要带什么材料", "继续",
            "我要投诉，路灯坏了", "对", "杨浦区", "国和路12号", "转人工", "嗯嗯那个啥",
            "我妈腿脚不好，老年照护怎么申请", "路边垃圾好几天没人收", "查进度"]

def diet(agent):
    nodes = agent.processor.graph_runner._instantiated_nodes.values()
    [model] = [n._component.model for n in nodes if type(n._component).__name__ == "DIETClassifier"]
    return model

async def understood(agent):
    return [await agent.processor.parse_message(UserMessage(text)) for text in MESSAGES]

async def main():
    rasas = Agent.load(sys.argv[1])
    prediction_load.install()
    ours = Agent.load(sys.argv[1])
    return {
        "rasa": await understood(rasas),
        "ours": await understood(ours),
        # Keras keeps the training step fit traces; a model never fitted has none.
        "trained_at_load": [diet(a).train_function is not None for a in (rasas, ours)],
        "autograph": [diet(a)._tf_predict_step._autograph for a in (rasas, ours)],
    }

print(json.dumps(asyncio.run(main()), ensure_ascii=False))
"""


def test_the_engine_loads_its_model_without_a_training_step_and_understands_the_same() -> None:
    settings = Settings()
    model, _ = train(settings)
    seen = json.loads(run_in_rasa(settings, SCRIPT, args=(str(model),)).strip().splitlines()[-1])
    assert seen["trained_at_load"] == [True, False]
    assert seen["autograph"] == [True, False]  # its prediction traced as it is written
    assert seen["ours"] == seen["rasa"]
    assert [p["intent"]["name"] for p in seen["ours"]][:2] == ["greet", "ask_proxy"]
