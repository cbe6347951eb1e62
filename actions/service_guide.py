"""The 一网通办 guide action: every guide intent comes here; liangwang.catalog.guide decides."""

from __future__ import annotations

from typing import Any

from rasa_sdk import Action, Tracker
from rasa_sdk.events import EventType, SlotSet
from rasa_sdk.executor import CollectingDispatcher
from rasa_sdk.types import DomainDict

from actions.complaints import complaint_instead
from actions.misunderstood import not_understood
from actions.services import services
from actions.tracker import latest_confidence, latest_intent, latest_text, utter
from liangwang.catalog.guide import Guide, Turn
from liangwang.catalog.guide_state import GuideState
from liangwang.catalog.store import StoredCatalog
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
        return complaint_instead(tracker) or guide_turn(dispatcher, tracker, domain)


def guide_turn(
    dispatcher: CollectingDispatcher,
    tracker: Tracker,
    domain: DomainDict,
    intent: str | None = None,
) -> list[EventType]:
    """One turn of the guide (as ``intent``, when given, instead of NLU's). A turn it
    cannot use is answered on the not-understood path, never acknowledged."""
    turn = Turn(
        intent=intent or latest_intent(tracker),
        text=latest_text(tracker),
        service=_entity(tracker, "service"),
        district=_entity(tracker, "district"),
        confidence=1.0 if intent else latest_confidence(tracker),
    )
    state = GuideState.from_slot(tracker.get_slot("guide"))
    fragments = fragments_from_responses(domain.get("responses", {}))
    deps = services()
    with unit_of_work(deps.sessions) as session:
        catalog = StoredCatalog(deps.catalog_index.get(session), session)
        says, state = Guide(catalog, fragments).respond(state, turn)
    events: list[EventType] = [SlotSet("guide", state.to_slot())]
    if not says:
        return [*events, *not_understood(dispatcher, tracker)]
    utter(dispatcher, says)
    # Understood: an earlier offer of a person no longer stands ("好" now answers this).
    return [*events, SlotSet("pending_offer", None)]
