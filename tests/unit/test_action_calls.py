"""bot/action_calls.py: the engine calls our real action server with the domain named by its
digest, sent again only when the server does not hold it, over a connection kept between
calls; every answer is the one the action gives when sent the whole domain."""

from __future__ import annotations

import json

from liangwang.settings import Settings
from ops.action_server import SECRET_HEADER
from tests.action_server import ACTION_SECRET
from tests.rasa_python import run_in_rasa

# Four calls with the model's domain, then two with a retrained one (a response more).
SCRIPT = """
import asyncio, json, sys
import aiohttp
{before}
from rasa.core.actions.action import RemoteAction
from rasa.core.channels.channel import CollectingOutputChannel
from rasa.core.nlg import TemplatedNaturalLanguageGenerator
from rasa.shared.core.domain import Domain
from rasa.shared.core.events import UserUttered
from rasa.shared.core.trackers import DialogueStateTracker
from rasa.utils.endpoints import EndpointConfig

url, secret, header = sys.argv[1:4]
sent, connections = [], []
post = aiohttp.ClientSession._request
async def recorded(self, method, target, **kwargs):
    sent.append("domain" in (kwargs.get("json") or {{}}))
    return await post(self, method, target, **kwargs)
aiohttp.ClientSession._request = recorded
connect = aiohttp.TCPConnector._create_connection
async def counted(self, *args, **kwargs):
    connections.append(1)
    return await connect(self, *args, **kwargs)
aiohttp.TCPConnector._create_connection = counted

domain = Domain.load("bot/domain.yml")
responses = {{**domain.as_dict()["responses"], "utter_only_in_retrained": [{{"text": "x"}}]}}
retrained = Domain.from_dict({{**domain.as_dict(), "responses": responses}})
action = RemoteAction("action_greet", EndpointConfig(url + "/webhook", headers={{header: secret}}))

async def call(model):
    tracker = DialogueStateTracker("web:test-caller", model.slots)
    tracker.update(UserUttered("你好", {{"name": "greet", "confidence": 0.99}}))
    nlg = TemplatedNaturalLanguageGenerator(model.responses)
    events = await action.run(CollectingOutputChannel(), nlg, tracker, model)
    return [event.text for event in events if getattr(event, "text", None)]

async def main():
    return [await call(model) for model in [domain] * 4 + [retrained] * 2]

answers = asyncio.run(main())
print(json.dumps({{"answers": answers, "sent": sent, "connections": len(connections)}}))
"""


def _calls(action_server: str, before: str) -> dict[str, list[object]]:
    out = run_in_rasa(
        Settings(), SCRIPT.format(before=before), args=(action_server, ACTION_SECRET, SECRET_HEADER)
    )
    result: dict[str, list[object]] = json.loads(out.strip().splitlines()[-1])
    return result


def test_the_domain_goes_by_digest_and_again_only_when_the_server_lacks_it(
    action_server: str,
) -> None:
    seen = _calls(action_server, "import action_calls; action_calls.install()")
    # A new action server does not hold the domain: asked for it (449), it is sent; then
    # the digest alone. A retrained model's digest is new: sent once more, then not.
    assert seen["sent"] == [False, True, False, False, False, False, True, False]
    # Every call answered as the action answers (the greeting is the model's response).
    answers = seen["answers"]
    assert answers[0] and all(answer == answers[0] for answer in answers)
    # All of it over one connection.
    assert seen["connections"] == 1


def test_without_it_every_call_carries_the_domain_on_a_connection_of_its_own(
    action_server: str,
) -> None:
    seen = _calls(action_server, "")
    assert seen["sent"] == [True] * 6
    assert seen["connections"] == 6
    answers = seen["answers"]
    assert answers[0] and all(answer == answers[0] for answer in answers)


def test_bodies_are_the_json_the_standard_library_writes() -> None:
    out = run_in_rasa(
        Settings(),
        """
import json, action_calls
values = [{"text": "路灯坏了 / 不亮", "confidence": 0.1 + 0.2, "n": 2**70, "none": None},
          [1e300, -0.0, "\\u2028", True]]
print(json.dumps([json.loads(action_calls.dumps(v)) == v for v in values]))
try:
    action_calls.dumps({"not json": object()})
except TypeError:
    print("refused as json refuses")
""",
    )
    assert "[true, true]" in out and "refused as json refuses" in out
