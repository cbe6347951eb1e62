"""The 一网通办 guide action: every guide intent comes here; liangwang.guide decides."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.services import services
from liangwang.catalog.store import StoredCatalog
from liangwang.db import unit_of_work
from liangwang.guide import Guide, GuideState, Turn, fragments_from_responses


def _entity(tracker: Tracker, name: str) -> str | None:
    value: Any = next(tracker.get_latest_entity_values(name), None)
    return str(value) if value else None


class ActionServiceGuide(Action):
    def name(self) -> str:
        return "action_service_guide"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        message = tracker.latest_message
        turn = Turn(
            intent=(message.get("intent") or {}).get("name") or "",
            text=message.get("text") or "",
            service=_entity(tracker, "service"),
            district=_entity(tracker, "district"),
        )
        state = GuideState.from_slot(tracker.get_slot("guide"))
        fragments = fragments_from_responses(domain.get("responses", {}))
        deps = services()
        with unit_of_work(deps.sessions) as session:
            catalog = StoredCatalog(deps.catalog_index.get(session), session)
            says, state = Guide(catalog, fragments).respond(state, turn)
        for say in says:
            dispatcher.utter_message(response=say.response, buttons=say.buttons or None, **say.vars)
        return [SlotSet("guide", state.to_slot())]
