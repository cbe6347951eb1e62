"""The Telegram channel's process (``python -m ops.telegram_bot``, started by ``liangwang
run`` when LIANGWANG_TELEGRAM_TOKEN is set): the relay of ``channels.telegram`` wired to
Rasa and to the phone line's speech engines, by long polling or by webhook."""

from __future__ import annotations

from channels.telegram import build_application, configure_logging, webhook_options
from liangwang.db import sessions_for
from liangwang.dialogue import RasaRestEngine
from liangwang.settings import load_settings
from voice.channel_speech import ChannelSpeech


def main() -> None:
    configure_logging()
    settings = load_settings()
    if settings.telegram_token is None:
        raise SystemExit("LIANGWANG_TELEGRAM_TOKEN is not set")
    speech = ChannelSpeech.from_settings(settings, sessions_for(settings.effective_database_url))
    app = build_application(settings, RasaRestEngine.from_settings(settings), speech=speech)
    if settings.telegram_webhook_url:
        app.run_webhook(**webhook_options(settings))
    else:
        app.run_polling()


if __name__ == "__main__":
    main()
