"""The web chat by voice: press-to-talk over a WebSocket, and every reply spoken.

``/api/chat/voice`` (WebSocket), one per utterance: the page sends 16-bit mono PCM at the
``rate`` it names as binary messages while the button is held down, then the text message
``end``. The server's speech-to-text (the phone line's engine and hints, through
``liangwang.speech``) hears it; the page is sent ``{"heard": …}`` (shown as the citizen's
message), then ``{"reply": …}`` as ``POST /api/chat`` answers, or ``{"error": …}`` in
plain words. A turn is bounded in time and length (``LIANGWANG_VOICE_NOTE_MAX_S``); a page
from another origin is refused, as is a client over its rate limits.

``POST /api/chat/speech`` speaks one reply as WAV, given the signature the reply came with.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import Annotated
from urllib.parse import urlsplit

from fastapi import APIRouter, HTTPException, Query, Response, WebSocket
from pydantic import BaseModel, Field
from starlette.websockets import WebSocketDisconnect

from backoffice.chat import ConversationId, TurnRefused, take_turn
from backoffice.deps import AppState, State
from backoffice.guards import PerAddress, client_address
from backoffice.responses import errors
from liangwang.conversation import Channel
from liangwang.speech import Heard, SpeechUnavailable, UnreadableRecording
from liangwang.wording import Say, render

router = APIRouter()
log = logging.getLogger(__name__)

END = "end"  # the page's message when the button is let go
POLICY_VIOLATION = 1008  # WebSocket close codes: refused, and try again later
TRY_AGAIN_LATER = 1013
GRACE_S = 10.0  # beyond the longest turn, for a slow network to deliver its end


class SpeakIn(BaseModel):
    text: str = Field(min_length=1, max_length=20_000)
    signature: str = Field(pattern=r"^[0-9a-f]{64}$")


@router.post(
    "/api/chat/speech",
    responses={**errors(400, 403, 429, 503), 200: {"content": {"audio/wav": {}}}},
    response_class=Response,
)
async def speak(body: SpeakIn, state: State, _limited: PerAddress) -> Response:
    """One of the assistant's replies, spoken in the project's voice."""
    if not state.speech_signer.verify(body.text, body.signature):
        raise HTTPException(403, render(Say("utter_channel_voice_unavailable")))
    try:
        wav = await state.speech.speak_wav([body.text])
    except SpeechUnavailable as exc:
        raise HTTPException(503, render(Say("utter_channel_voice_unavailable"))) from exc
    return Response(
        wav, media_type="audio/wav", headers={"Cache-Control": "private, max-age=86400"}
    )


def _same_origin(websocket: WebSocket) -> bool:
    """A browser names the page that opened the socket; only our own page may (a socket is
    not bound by the same-origin rules that protect fetch)."""
    origin = websocket.headers.get("origin")
    return origin is None or urlsplit(origin).netloc == websocket.headers.get("host")


def _limited(state: AppState, websocket: WebSocket, conversation_id: str) -> bool:
    return (
        state.rate_limits.address.wait_s(client_address(websocket)) > 0
        or state.rate_limits.conversation.wait_s(conversation_id) > 0
    )


@router.websocket("/api/chat/voice")
async def press_to_talk(
    websocket: WebSocket,
    conversation_id: ConversationId,
    rate: Annotated[int, Query()] = 16000,
) -> None:
    state: AppState = websocket.app.state.deps
    if not _same_origin(websocket):
        await websocket.close(POLICY_VIOLATION)
        return
    if _limited(state, websocket, conversation_id):
        await websocket.close(TRY_AGAIN_LATER, render(Say("utter_channel_slow_down")))
        return
    await websocket.accept()
    try:
        heard = await _hear(state, websocket, conversation_id, rate)
        if heard is None:
            return
        await websocket.send_json({"heard": heard.text})
        reply = await take_turn(state, conversation_id, heard.text, heard.metadata())
        await websocket.send_json({"reply": reply.model_dump()})
    except TurnRefused as exc:
        await websocket.send_json({"error": exc.message})
    except WebSocketDisconnect:
        return  # the page went away; nothing was sent to the dialogue unheard
    await websocket.close()


async def _hear(
    state: AppState, websocket: WebSocket, conversation_id: str, rate: int
) -> Heard | None:
    """The utterance, or None once the page was told why not."""
    problem = "utter_channel_voice_unavailable"
    try:
        cid = Channel.web.conversation_id(conversation_id)
        listening = await state.speech.listen(cid, rate)
        deadline = time.monotonic() + state.settings.voice_note_max_s + GRACE_S
        while not listening.full:
            message = await asyncio.wait_for(websocket.receive(), deadline - time.monotonic())
            if message["type"] == "websocket.disconnect":
                raise WebSocketDisconnect(message.get("code", 1000))
            if message.get("bytes"):
                listening.accept(message["bytes"])
            elif message.get("text") == END:
                break
        heard = await listening.finish()
        if heard.anything:
            return heard
        problem = "utter_channel_not_heard"
    except TimeoutError:
        problem = "utter_channel_voice_too_long"
    except UnreadableRecording as exc:
        log.info("press-to-talk audio could not be heard: %s", exc)
        problem = "utter_channel_voice_unreadable"
    except SpeechUnavailable:
        log.exception("speech recognition is not available")
    seconds = str(int(state.settings.voice_note_max_s))
    await websocket.send_json({"error": render(Say(problem, {"seconds": seconds}))})
    return None
