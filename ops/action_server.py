"""The action server: rasa_sdk's app, on a private address, answering only our Rasa.

rasa_sdk's own runner binds every interface (``SANIC_HOST`` defaults to 0.0.0.0) and runs
any action for anyone: whoever reached the port could post ``action_withdraw_ticket`` with
``sender_id="phone:<victim>"``. This runner binds ``LIANGWANG_ACTION_HOST`` (loopback by
default) and refuses every call that lacks the shared secret Rasa sends with each action
call (``bot/endpoints.yml``); only the health check is open, for the supervisor.

Run as ``python -m ops.action_server``; ``liangwang run`` starts it with a new secret.
"""

from __future__ import annotations

import hmac
import logging
from typing import Any

from rasa_sdk.endpoint import create_app
from rasa_sdk.executor import ActionExecutor
from sanic import Request, Sanic
from sanic.response import HTTPResponse, json

from liangwang.settings import load_settings

SECRET_HEADER = "X-Liangwang-Action-Secret"
OPEN_PATHS = frozenset({"/health"})
ACTIONS_PACKAGE = "actions"

log = logging.getLogger(__name__)


def create_action_app(secret: str) -> Sanic[Any, Any]:
    """rasa_sdk's app with our actions, refusing calls without ``secret``."""
    if not secret:
        raise ValueError("the action server needs a secret")
    executor = ActionExecutor()
    executor.register_package(ACTIONS_PACKAGE)
    # No browser ever calls the action server: no CORS headers at all.
    app: Sanic[Any, Any] = create_app(executor, cors_origins=[])
    expected = secret.encode()

    async def require_secret(request: Request) -> HTTPResponse | None:
        if request.path in OPEN_PATHS:
            return None
        given = request.headers.get(SECRET_HEADER, "").encode()
        if hmac.compare_digest(given, expected):
            return None
        log.warning("refused an action call without the secret from %s", request.ip)
        return json({"error": "forbidden"}, status=403)

    app.register_middleware(require_secret, "request")
    return app


def main() -> None:
    # The supervisor stamps each line with the time.
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    settings = load_settings()
    if settings.action_secret is None:
        raise SystemExit(
            "LIANGWANG_ACTION_SECRET 未设置 / not set: the action server never runs open "
            "(liangwang run sets one)"
        )
    app = create_action_app(settings.action_secret.get_secret_value())
    app.run(
        host=settings.action_host,
        port=settings.action_port,
        single_process=True,
        access_log=False,
        motd=False,
    )


if __name__ == "__main__":
    main()
