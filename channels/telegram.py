"""Telegram channel (python-telegram-bot 22): relays messages to the dialogue engine.

Buttons from the assistant become inline keyboard buttons; pressing one sends its payload.
Run by the supervisor only when LIANGWANG_TELEGRAM_TOKEN is set.
"""

from __future__ import annotations

import logging

from telegram import InlineKeyboardButton, InlineKeyboardMarkup, Update
from telegram.ext import (
    Application,
    CallbackQueryHandler,
    ContextTypes,
    MessageHandler,
    filters,
)

from liangwang.conversation import BotMessage
from liangwang.dialogue import (
    DialogueEngine,
    DialogueError,
    MessageTooLong,
    RasaRestEngine,
    UserTurn,
)
from liangwang.settings import Settings, load_settings

log = logging.getLogger(__name__)

# Shown when the dialogue engine is down; the citizen's text is quoted back so it is not lost.
UNAVAILABLE = (
    "助手暂时没有响应，请过一会儿再发一次，或拨打市民服务热线 12345。您刚才发的是：\n{text}"
)
TOO_LONG = "消息太长了：最多 {limit} 个字，您发了 {length} 个字。请分几次发。"


def conversation_id(update: Update) -> str:
    user = update.effective_user
    chat = update.effective_chat
    return f"telegram-{user.id if user else chat.id if chat else 'unknown'}"


def keyboard(message: BotMessage) -> InlineKeyboardMarkup | None:
    if not message.buttons:
        return None
    rows = [
        [InlineKeyboardButton(str(b.get("title")), callback_data=str(b.get("payload"))[:64])]
        for b in message.buttons
    ]
    return InlineKeyboardMarkup(rows)


class TelegramRelay:
    def __init__(self, engine: DialogueEngine) -> None:
        self._engine = engine

    async def relay(self, update: Update, text: str) -> None:
        chat = update.effective_chat
        if chat is None:
            return
        try:
            replies = await self._engine.send(UserTurn(conversation_id(update), text, "telegram"))
        except MessageTooLong as exc:
            await chat.send_message(TOO_LONG.format(limit=exc.limit, length=exc.length))
            return
        except DialogueError:
            log.exception("dialogue engine unavailable")
            await chat.send_message(UNAVAILABLE.format(text=text))
            return
        for message in replies:
            if message.text:
                await chat.send_message(message.text, reply_markup=keyboard(message))

    async def on_text(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        if update.effective_message and update.effective_message.text:
            await self.relay(update, update.effective_message.text)

    async def on_button(self, update: Update, _context: ContextTypes.DEFAULT_TYPE) -> None:
        query = update.callback_query
        if query is None or query.data is None:
            return
        await query.answer()
        await self.relay(update, query.data)


def build_application(settings: Settings, engine: DialogueEngine) -> Application:  # type: ignore[type-arg]
    assert settings.telegram_token is not None
    relay = TelegramRelay(engine)
    app = (
        Application.builder()
        .token(settings.telegram_token.get_secret_value())
        .base_url(settings.telegram_api_url)
        .build()
    )
    app.add_handler(MessageHandler(filters.TEXT, relay.on_text))
    app.add_handler(CallbackQueryHandler(relay.on_button))
    return app


def main() -> None:
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    if settings.telegram_token is None:
        raise SystemExit("LIANGWANG_TELEGRAM_TOKEN is not set")
    engine = RasaRestEngine(
        settings.rasa_url, timeout_s=settings.turn_timeout_s, max_chars=settings.max_message_chars
    )
    build_application(settings, engine).run_polling()


if __name__ == "__main__":
    main()
