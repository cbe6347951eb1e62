"""The 一网通办 guide action: every guide intent comes here; liangwang.catalog.guide decides."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, FollowupAction, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.services import services
from actions.tracker import latest_intent, latest_text, utter
from liangwang.catalog.guide import Guide, GuideState, Turn
from liangwang.catalog.store import StoredCatalog
from liangwang.conversation import FALLBACK_ACTION
from liangwang.db import unit_of_work
from liangwang.wording import fragments_from_responses


def _entity(tracker: Tracker, name: str) -> str | None:
    value: Any = next(tracker.get_latest_entity_values(name), None)
    return str(value) if value else None


class ActionServiceGuide(Action):
    def name(self) -> str:
        return "action_service_guide"

    def run(
        self, dispatcher: CollectingDispatcher, tracker: Tracker, domain: DomainDict
    ) -> list[EventType]:
        turn = Turn(
            intent=latest_intent(tracker),
            text=latest_text(tracker),
            service=_entity(tracker, "service"),
            district=_entity(tracker, "district"),
        )
        state = GuideState.from_slot(tracker.get_slot("guide"))
        fragments = fragments_from_responses(domain.get("responses", {}))
        deps = services()
        with unit_of_work(deps.sessions) as session:
            catalog = StoredCatalog(deps.catalog_index.get(session), session)
            says, state = Guide(catalog, fragments).respond(state, turn)
        events: list[EventType] = [SlotSet("guide", state.to_slot())]
        if not says:  # not understood: ask again, offer choices, offer a person
            return [*events, FollowupAction(FALLBACK_ACTION)]
        utter(dispatcher, says)
        return events
