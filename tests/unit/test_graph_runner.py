"""bot/graph_runner.py: the engine's graph run node after node gives what Rasa's dask
runner gives (results, inputs, missing needs, errors), runs each needed node once, and
works out the order of a set of targets once instead of at every run."""

from __future__ import annotations

import json

from liangwang.settings import Settings
from tests.rasa_python import run_in_rasa

# A diamond (a → b, c → d), a second target (e), a node nothing needs (f), a node with a
# need nothing provides (g) and one that fails (h), run by both runners.
SCRIPT = """
import json, tempfile
from pathlib import Path
from rasa.engine.graph import ExecutionContext, GraphComponent, GraphSchema, SchemaNode
from rasa.engine.runner.dask import DaskGraphRunner
from rasa.engine.storage.local_model_storage import LocalModelStorage
from graph_runner import SequentialGraphRunner

class Node(GraphComponent):
    calls = []
    @classmethod
    def create(cls, config, model_storage, resource, execution_context):
        return cls(config["name"])
    def __init__(self, name):
        self.name = name
    def run(self, **parents):
        Node.calls.append(self.name)
        if self.name == "h":
            raise ValueError("h broke")
        said = ",".join(f"{k}={v}" for k, v in sorted(parents.items()))
        return f"{self.name}({said})"

def node(name, needs, target=False):
    return SchemaNode(needs=needs, uses=Node, constructor_name="create", fn="run",
                      config={"name": name}, eager=True, is_target=target)

schema = GraphSchema({
    "a": node("a", {"text": "__message__"}),
    "b": node("b", {"x": "a"}), "c": node("c", {"x": "a"}),
    "d": node("d", {"left": "b", "right": "c"}, target=True),
    "e": node("e", {"x": "a"}, target=True), "f": node("f", {"x": "a"}),
    "g": node("g", {"x": "a", "y": "nowhere"}), "h": node("h", {"x": "c"}),
})
runs = [
    ({"__message__": "hi"}, ["d"]), ({"__message__": "hi"}, ["e", "d"]),
    ({"__message__": "hi"}, None), ({"__message__": "hi", "b": "given"}, ["d"]),
    ({"__message__": "a"}, ["d"]), ({"__message__": "hi"}, ["g"]),
    ({"__message__": "hi"}, ["h"]), ({}, ["d"]),
]

def outcomes(runner_class):
    storage = LocalModelStorage(Path(tempfile.mkdtemp()))
    runner = runner_class(schema, storage, ExecutionContext(schema, "m"))
    seen = []
    for inputs, targets in runs:
        Node.calls.clear()
        try:
            result = runner.run(inputs, targets)
        except Exception as error:
            result = [type(error).__name__, str(error), type(error.__cause__).__name__]
        seen.append({"result": result, "calls": sorted(Node.calls)})
    minimal = []
    original = GraphSchema.minimal_graph_schema
    def counted(self, targets=None):
        minimal.append(1)
        return original(self, targets)
    GraphSchema.minimal_graph_schema = counted
    for _ in range(5):
        runner.run({"__message__": "hi"}, ["d"])
    GraphSchema.minimal_graph_schema = original
    return {"seen": seen, "orders_worked_out": len(minimal)}

print(json.dumps({"dask": outcomes(DaskGraphRunner), "ours": outcomes(SequentialGraphRunner)}))
"""


def _outcomes() -> dict[str, dict[str, object]]:
    out = run_in_rasa(Settings(), SCRIPT)
    result: dict[str, dict[str, object]] = json.loads(out.strip().splitlines()[-1])
    return result


def test_the_graph_run_node_after_node_gives_what_dask_gives() -> None:
    both = _outcomes()
    ours, dask = both["ours"]["seen"], both["dask"]["seen"]
    assert ours == dask
    assert isinstance(ours, list)
    diamond, two_targets, default_targets, given, clash, missing, failing, no_input = ours
    assert diamond["result"] == {"d": "d(left=b(x=a(text=hi)),right=c(x=a(text=hi)))"}
    # Each needed node once: a, shared by b and c, is not run twice; f never.
    assert diamond["calls"] == ["a", "b", "c", "d"]
    assert set(two_targets["result"]) == {"e", "d"}
    assert set(default_targets["result"]) == {"d", "e"}
    # An input replaces the node of its name.
    assert given["result"] == {"d": "d(left=given,right=c(x=a(text=hi)))"}
    assert given["calls"] == ["a", "c", "d"]
    assert clash["result"][0] == "GraphRunError" and "clashes" in clash["result"][1]
    assert missing["result"][0] == "GraphRunError" and "nowhere" in missing["result"][1]
    assert failing["result"][:1] == ["GraphComponentException"]
    assert failing["result"][2] == "ValueError"
    assert no_input["result"][0] == "GraphRunError"


def test_the_order_of_a_set_of_targets_is_worked_out_once() -> None:
    both = _outcomes()
    assert both["ours"]["orders_worked_out"] == 0  # this runner's first run already did
    assert both["dask"]["orders_worked_out"] == 5  # dask's: at every run
