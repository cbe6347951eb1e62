"""Telegram channel (python-telegram-bot 22): relays messages to the dialogue engine.

Buttons from the assistant become inline keyboard buttons; pressing one sends its payload.
The menu's commands (/start, /help, /status, /human) are the dialogue's own intents;
/cancel leaves the current question, an unfinished complaint kept as its draft.
A voice note is heard by the project's speech-to-text (``liangwang.speech``); what was heard
is shown, then answered in writing and by a voice note. ``/voice`` makes every reply spoken.
Private chats only (a group is told once why); each user has a rate limit; updates are
handled concurrently, one user's in order, so a slow turn holds up no one else; sends
are retried (channels/telegram_sending.py); an unexpected error is logged and apologised
for. Run by the supervisor only when LIANGWANG_TELEGRAM_TOKEN is set.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections import OrderedDict
from collections.abc import Sequence
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.orm import Session, sessionmaker
from telegram import (
    BotCommand,
    Chat,
    InlineKeyboardButton,
    InlineKeyboardMarkup,
    KeyboardButton,
    PhotoSize,
    ReplyKeyboardMarkup,
    Update,
)
from telegram.error import TelegramError
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    CommandHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from channels.telegram_push import push_loop
from channels.telegram_sending import Markup, download, say
from channels.telegram_voice import VoiceNotes
from liangwang.conversation import BotMessage, Channel
from liangwang.db import sessions_for
from liangwang.dialogue import (
    DialogueEngine,
    DialogueError,
    MessageTooLong,
    NothingSaid,
    UserTurn,
    readable,
)
from liangwang.photos import PhotoStore
from liangwang.rate_limit import RateLimit
from liangwang.settings import Settings
from liangwang.speech import NoSpeech, Speech
from liangwang.staff_aware import StaffAwareEngine
from liangwang.taps import SHARE_LOCATION, tap_buttons, with_tap_answers
from liangwang.wording import Say, fragments, render

log = logging.getLogger(__name__)


def conversation_id(update: Update) -> str:
    user = update.effective_user
    chat = update.effective_chat
    return Channel.telegram.conversation_id(
        str(user.id if user else chat.id if chat else "unknown")
    )


GRID_FROM = 6  # more buttons than this (the 16 districts) go four to a row
GRID_WIDTH = 4


def keyboard(message: BotMessage) -> Markup | None:
    """The message's buttons, or the few answers its question offers (liangwang/taps.py).
    "发送我的位置" is Telegram's own location button, under the input box (buttons in a
    message cannot ask for the location); tapping it shares the phone's location."""
    offered = tap_buttons(message)
    for button in offered:
        if button.get("payload") == SHARE_LOCATION:
            where = KeyboardButton(str(button.get("title")), request_location=True)
            return ReplyKeyboardMarkup([[where]], resize_keyboard=True, one_time_keyboard=True)
    buttons = [
        InlineKeyboardButton(str(b.get("title")), callback_data=str(b.get("payload"))[:64])
        for b in offered
    ]
    if not buttons:
        return None
    width = GRID_WIDTH if len(buttons) > GRID_FROM else 1
    return InlineKeyboardMarkup([buttons[i : i + width] for i in range(0, len(buttons), width)])


# The menu (set_my_commands): each command is the payload of one of the dialogue's intents.
COMMANDS = {
    "start": "/greet",  # the greeting and the three choices
    "help": "/ask_capabilities",
    "status": "/check_status",  # my tickets
    "human": "/handoff",
}
CANCEL = "cancel"  # leave the current question, the draft kept (on_cancel)
VOICE = "voice"  # replies spoken as well as written, or no longer (on_voice_command)
RESTART = "/restart"  # Rasa's own: the conversation starts afresh
USERS_TRACKED = 10_000  # per-user locks and group chats told, least recently seen first out


def _remember(memory: OrderedDict[Any, Any], key: Any, value: Any) -> Any:
    """``value`` kept under ``key`` as the most recent; the oldest forgotten past the bound."""
    memory.pop(key, None)
    memory[key] = value
    while len(memory) > USERS_TRACKED:
        memory.popitem(last=False)
    return value


def _first_time(told: OrderedDict[Any, None], key: Any) -> bool:
    """Whether ``key`` is new to ``told`` (and from now on remembered)."""
    if key in told:
        return False
    _remember(told, key, None)
    return True


class TelegramRelay:
    def __init__(
        self,
        engine: DialogueEngine,
        photos: PhotoStore,
        per_user_per_minute: int = 20,
        *,
        sessions: sessionmaker[Session] | None = None,
        speech: Speech | None = None,
        max_voice_note_bytes: int = 2_000_000,
        max_voice_note_s: float = 120.0,
    ) -> None:
        self._engine = engine
        self._photos = photos
        self._voice = VoiceNotes(
            speech or NoSpeech(), sessions, max_voice_note_bytes, max_voice_note_s
        )
        self._limit = RateLimit(per_user_per_minute)
        self._slowed: OrderedDict[str, None] = OrderedDict()  # told to slow down, until allowed
        self._locks: OrderedDict[str, asyncio.Lock] = OrderedDict()
        self._groups_told: OrderedDict[int, None] = OrderedDict()

    def _lock_for(self, user: str) -> asyncio.Lock:
        """One user's updates in the order they came, everyone else's alongside."""
        lock: asyncio.Lock = _remember(self._locks, user, self._locks.get(user) or asyncio.Lock())
        return lock

    async def _admitted(self, update: Update) -> tuple[Chat, str] | None:
        """The chat and conversation of an update within the user's rate limit."""
        chat = update.effective_chat
        if chat is None:
            return None
        user = conversation_id(update)
        if self._limit.wait_s(user) > 0:
            if _first_time(self._slowed, user):  # said once, not to every message of a flood
                await say(chat, render(Say("utter_channel_slow_down")))
            return None
        self._slowed.pop(user, None)
        return chat, user

    async def relay(
        self, update: Update, text: str, metadata: dict[str, Any] | None = None
    ) -> None:
        admitted = await self._admitted(update)
        if admitted is None:
            return
        chat, user = admitted
        async with self._lock_for(user):
            await self._turn(chat, user, text, metadata or {})

    async def _turn(
        self,
        chat: Chat,
        user: str,
        text: str,
        metadata: dict[str, Any],
        *,
        spoken: bool = False,
    ) -> None:
        text = readable(text)
        if not text:  # only spaces or control characters: said plainly, as on the web
            await say(chat, render(Say("utter_channel_empty")))
            return
        try:
            replies = await self._engine.send(UserTurn(user, text, Channel.telegram, metadata))
        except MessageTooLong as exc:
            too_long = Say(
                "utter_channel_too_long", {"limit": str(exc.limit), "length": str(exc.length)}
            )
            await say(chat, render(too_long))
            return
        except DialogueError:
            log.exception("dialogue engine unavailable")
            await say(chat, render(Say("utter_channel_unavailable", {"text": text})))
            return
        shown = with_tap_answers(replies)
        for message in shown:
            if message.text:
                await say(chat, message.text, keyboard(message))
        self._voice.speech.asked(user, replies)  # the next voice note is heard with its hints
        if spoken or await asyncio.to_thread(self._voice.wanted, user):
            await self._voice.speak(chat, [m.text for m in shown if m.text])

    async def on_voice(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A voice note: heard, what was heard shown, then answered in text and voice."""
        message = update.effective_message
        recording = (message.voice or message.audio) if message else None
        admitted = await self._admitted(update)
        if recording is None or admitted is None:
            return
        chat, user = admitted
        async with self._lock_for(user):
            heard = await self._voice.hear(chat, user, recording)
            if heard is not None:
                await say(chat, render(Say("utter_channel_heard", {"text": heard.text})))
                await self._turn(chat, user, heard.text, heard.metadata(), spoken=True)

    async def on_voice_command(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """/voice: replies spoken as well as written from now on, or no longer."""
        admitted = await self._admitted(update)
        if admitted is None:
            return
        chat, user = admitted
        async with self._lock_for(user):  # two /voice in a row: each sees the other's
            on = await self._voice.toggle(user)
        told = {None: "utter_channel_voice_unavailable", True: "utter_channel_voice_on"}
        await say(chat, render(Say(told.get(on, "utter_channel_voice_off"))))

    async def on_command(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        words = (message.text or "").split() if message else []
        name = words[0].lstrip("/").split("@")[0] if words else ""
        if name in COMMANDS:
            await self.relay(update, COMMANDS[name])

    async def on_cancel(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """/cancel: leave whatever was being asked. The dialogue starts afresh; an
        unfinished complaint stays saved as a draft ("接着投诉" continues it)."""
        chat = update.effective_chat
        if chat is None:
            return
        user = conversation_id(update)
        async with self._lock_for(user):
            with contextlib.suppress(NothingSaid):  # a restart says nothing of its own
                await self._engine.send(UserTurn(user, RESTART, Channel.telegram))
            await say(chat, render(Say("utter_channel_cancelled")))

    async def on_group(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        """A group or channel: the assistant talks to one person at a time, privately."""
        chat = update.effective_chat
        if chat is not None and _first_time(self._groups_told, chat.id):
            await say(chat, render(Say("utter_channel_private_only")))

    async def on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message and update.effective_message.text:
            await self.relay(update, update.effective_message.text)

    async def on_location(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message and message.location:
            where = {"lat": message.location.latitude, "long": message.location.longitude}
            await self.relay(update, fragments()["location_text"], {"location": where})

    async def on_photo(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        message = update.effective_message
        if message and message.photo:
            text = readable(message.caption or "") or fragments()["photo_text"]
            stored = await self._keep_photo(message.photo)
            await self.relay(update, text, {"media_url": stored} if stored else None)

    async def _keep_photo(self, sizes: Sequence[PhotoSize]) -> str | None:
        """The largest size within the limit, downloaded and stored: its reference, never
        Telegram's file path (which carries the bot's token)."""
        fitting = [s for s in sizes if (s.file_size or 0) <= self._photos.max_bytes]
        if not fitting:
            return None
        content = await download(fitting[-1])
        try:
            return self._photos.save(content)
        except ValueError:  # the size Telegram announced was not the size it sent
            log.warning("a photo over the size limit was not kept")
            return None

    async def on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        await query.answer()
        await self.relay(update, query.data)


async def on_error(update: object, context: ContextTypes.DEFAULT_TYPE) -> None:
    """Whatever went wrong is logged with whose update it was, and the citizen is told."""
    who = conversation_id(update) if isinstance(update, Update) else "-"
    log.error("Telegram update of %s failed", who, exc_info=context.error)
    chat = update.effective_chat if isinstance(update, Update) else None
    if chat is not None:
        with contextlib.suppress(TelegramError):
            await chat.send_message(render(Say("utter_channel_failed")))


def build_application(
    settings: Settings,
    engine: DialogueEngine,
    push_every_s: float | None = 10.0,
    speech: Speech | None = None,
) -> Application:  # type: ignore[type-arg]
    assert settings.telegram_token is not None
    sessions = sessions_for(settings.effective_database_url)
    # Silent where a person holds the chat: what the citizen writes is kept for staff.
    relay = TelegramRelay(
        StaffAwareEngine(engine, sessions),
        PhotoStore.from_settings(settings),
        settings.telegram_messages_per_minute,
        sessions=sessions,
        speech=speech,
        max_voice_note_bytes=settings.max_voice_note_bytes,
        max_voice_note_s=settings.voice_note_max_s,
    )

    async def started(app: Application) -> None:  # type: ignore[type-arg]
        menu = fragments()
        await app.bot.set_my_commands(
            [BotCommand(name, menu[f"command_{name}"]) for name in (*COMMANDS, CANCEL, VOICE)]
        )
        if push_every_s is not None:
            app.create_task(push_loop(app.bot, sessions, push_every_s))

    app = (
        Application.builder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_api_url)
        .base_file_url(settings.telegram_file_url)
        .concurrent_updates(True)  # one user's slow turn holds up no one else
        .post_init(started)
        .build()
    )
    private = filters.ChatType.PRIVATE
    app.add_handler(CommandHandler(list(COMMANDS), relay.on_command, filters=private))
    app.add_handler(CommandHandler(CANCEL, relay.on_cancel, filters=private))
    app.add_handler(CommandHandler(VOICE, relay.on_voice_command, filters=private))
    app.add_handler(MessageHandler(private & filters.TEXT & ~filters.COMMAND, relay.on_text))
    app.add_handler(MessageHandler(private & filters.LOCATION, relay.on_location))
    app.add_handler(MessageHandler(private & filters.PHOTO, relay.on_photo))
    app.add_handler(MessageHandler(private & (filters.VOICE | filters.AUDIO), relay.on_voice))
    app.add_handler(CallbackQueryHandler(relay.on_button))
    app.add_handler(MessageHandler(~private, relay.on_group))
    app.add_error_handler(on_error)
    return app


def configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    # httpx logs every request's URL at INFO, and a Bot API URL carries the bot's token.
    logging.getLogger("httpx").setLevel(logging.WARNING)


def webhook_options(settings: Settings) -> dict[str, Any]:
    """Where updates are taken in webhook mode; python-telegram-bot's webhook server
    answers 403 to a request without the secret (run_webhook and start_webhook both
    take these)."""
    assert settings.telegram_webhook_secret is not None
    return {
        "listen": settings.telegram_webhook_host,
        "port": settings.telegram_webhook_port,
        "url_path": urlsplit(settings.telegram_webhook_url).path.lstrip("/"),
        "webhook_url": settings.telegram_webhook_url,
        "secret_token": settings.telegram_webhook_secret.get_secret_value(),
    }
