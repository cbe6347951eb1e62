"""The citizens' web chat: the page at ``/``, its JSON endpoint ``POST /api/chat``, and
``GET /api/chat/updates``, which the page asks every few seconds while a person holds
its conversation (the live handoff desk): staff replies arrive without reloading."""

from __future__ import annotations

import asyncio
from typing import Annotated, Any

from fastapi import APIRouter, HTTPException, Query, Request
from fastapi.responses import HTMLResponse
from pydantic import BaseModel, Field

from backoffice.background import every
from backoffice.deps import AfterId, AppState, State
from backoffice.guards import PerAddress, PollsPerAddress, refuse_if_limited
from backoffice.responses import errors
from liangwang import handoff, tracker_log
from liangwang.conversation import Channel
from liangwang.db import aware, unit_of_work
from liangwang.dialogue import DialogueError, MessageTooLong, UserTurn, check_length, readable
from liangwang.handoff import HandoffPolicy
from liangwang.taps import with_tap_answers
from liangwang.wording import Say, render

router = APIRouter()


class Location(BaseModel):
    lat: float = Field(ge=-90, le=90)
    long: float = Field(ge=-180, le=180)


class ChatIn(BaseModel):
    # Chosen by the page and kept in the browser, so a reload continues the conversation.
    conversation_id: str = Field(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")
    text: str = Field(min_length=1)
    # The browser's location, shared by tapping 发送我的位置 (as a location on Telegram).
    location: Location | None = None


class SpokenPiece(BaseModel):
    text: str
    signature: str


class ChatMessageOut(BaseModel):
    text: str | None = None
    buttons: list[dict[str, Any]] = []
    # The text in the pieces it is spoken in, each with its signature: POST
    # /api/chat/speech speaks one (the page plays the first while the next is made).
    speech: list[SpokenPiece] = []


class ChatOut(BaseModel):
    messages: list[ChatMessageOut]
    # The conversation is with the staff desk (waiting for or talking to a person): the
    # page then asks for updates.
    with_staff: bool = False


class DeskMessageOut(BaseModel):
    id: int
    text: str
    sender: str  # "staff", or "assistant" for the desk's notices


class UpdatesOut(BaseModel):
    messages: list[DeskMessageOut]
    with_staff: bool  # False once the handoff is closed or handed back


ConversationId = Annotated[str, Query(min_length=8, max_length=100, pattern=r"^[A-Za-z0-9_-]+$")]
NOTICE_EVERY_S = 15.0


async def tell_the_unclaimed_often(state: AppState) -> None:
    """Runs while the app serves: citizens nobody has answered are told when someone will."""
    policy = HandoffPolicy.from_settings(state.settings)

    def once() -> None:
        with unit_of_work(state.sessions) as session:
            handoff.tell_the_unclaimed(session, policy)

    await every(NOTICE_EVERY_S, once, "telling citizens who wait for a person failed")


def _with_staff(state: AppState, conversation_id: str) -> bool:
    with unit_of_work(state.sessions) as session:
        return handoff.open_handoff(session, conversation_id) is not None


@router.get("/", response_class=HTMLResponse)
def chat_page(request: Request, state: State) -> HTMLResponse:
    context = {"max_chars": state.settings.max_message_chars, "voice": state.speech.available}
    return state.page(request, "chat.html", context)


class TurnRefused(Exception):
    """A turn the dialogue was not given, or could not answer: its status and the words
    the citizen is shown."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


def spoken(state: AppState, text: str | None) -> list[SpokenPiece]:
    """What lets the page ask for ``text`` spoken, piece by piece (speech_links.py)."""
    if not text or not state.speech.available:
        return []
    pieces = state.speech.sentences(text)
    return [SpokenPiece(text=p, signature=state.speech_signer.sign(p)) for p in pieces]


async def take_turn(
    state: AppState, conversation_id: str, text: str, metadata: dict[str, Any] | None = None
) -> ChatOut:
    """One citizen turn of the web chat (typed, tapped or spoken) and what is shown back."""
    text = readable(text)
    if not text:  # only spaces or control characters: a 400 as documented, said plainly
        raise TurnRefused(400, render(Say("utter_channel_empty")))
    cid = Channel.web.conversation_id(conversation_id)
    try:
        check_length(text, state.settings.max_message_chars)
        replies = await state.dialogue.send(UserTurn(cid, text, Channel.web, metadata or {}))
    except MessageTooLong as exc:
        too_long = Say(
            "utter_channel_too_long", {"limit": str(exc.limit), "length": str(exc.length)}
        )
        raise TurnRefused(413, render(too_long)) from exc
    except DialogueError as exc:
        raise TurnRefused(503, render(Say("utter_channel_unavailable_web"))) from exc
    state.speech.asked(cid, replies)  # a spoken answer is heard with the question's hints
    # Messages carrying only channel instructions (e.g. for the phone line) are not shown;
    # a question whose answers are few offers them as buttons (liangwang/taps.py).
    shown = with_tap_answers(replies)
    with_staff = await asyncio.to_thread(_with_staff, state, cid)
    return ChatOut(
        messages=[
            ChatMessageOut(text=m.text, buttons=m.buttons, speech=spoken(state, m.text))
            for m in shown
        ],
        with_staff=with_staff,
    )


@router.post("/api/chat", responses=errors(400, 413, 429, 503))
async def chat(body: ChatIn, state: State, _limited: PerAddress) -> ChatOut:
    refuse_if_limited(state.rate_limits.conversation, body.conversation_id)
    try:
        where = {"location": body.location.model_dump()} if body.location else None
        return await take_turn(state, body.conversation_id, body.text, where)
    except TurnRefused as exc:
        raise HTTPException(exc.status, exc.message) from exc


class SaidOut(BaseModel):
    who: str  # "citizen", "assistant" or "staff"
    text: str
    speech: list[SpokenPiece] = []  # as in ChatMessageOut, for what the assistant said


class HistoryOut(BaseModel):
    messages: list[SaidOut]
    after: int  # the last desk message shown: where asking for updates goes on from
    with_staff: bool


HISTORY_TURNS = 200


def _spoken_by_bot(state: AppState, who: str, text: str) -> list[SpokenPiece]:
    return spoken(state, text) if who == "assistant" else []


@router.get("/api/chat/history", responses=errors(429))
def chat_history(
    state: State, conversation_id: ConversationId, _limited: PollsPerAddress
) -> HistoryOut:
    """The conversation so far, for a page reloaded in the middle of it: the dialogue's
    turns (Rasa's tracker store) and what was said with staff, in the order said."""
    cid = Channel.web.conversation_id(conversation_id)
    said = [
        (s.at, SaidOut(who=s.who, text=s.text, speech=_spoken_by_bot(state, s.who, s.text)))
        for s in tracker_log.conversation(state.tracker_store, cid, HISTORY_TURNS)
    ]
    with unit_of_work(state.sessions) as session:
        desk = handoff.for_conversation(session, cid)
        said += [
            (aware(m.at), SaidOut(who=m.sender, text=handoff.as_citizen_sees(m))) for m in desk
        ]
        with_staff = handoff.open_handoff(session, cid) is not None
    said.sort(key=lambda pair: pair[0])
    return HistoryOut(
        messages=[s for _, s in said[-HISTORY_TURNS:]],
        after=max((m.id for m in desk), default=0),
        with_staff=with_staff,
    )


@router.get("/api/chat/updates", responses=errors(429))
def chat_updates(
    state: State,
    conversation_id: ConversationId,
    _limited: PollsPerAddress,
    after: AfterId = 0,
) -> UpdatesOut:
    """What staff (or the desk) said to this conversation since message ``after``."""
    cid = Channel.web.conversation_id(conversation_id)
    with unit_of_work(state.sessions) as session:
        new = handoff.for_citizen_since(session, cid, after)
        return UpdatesOut(
            messages=[
                DeskMessageOut(id=m.id, text=handoff.as_citizen_sees(m), sender=m.sender)
                for m in new
            ],
            with_staff=handoff.open_handoff(session, cid) is not None,
        )
