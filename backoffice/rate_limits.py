"""The web apps' rate limits (liangwang/rate_limit.py's token buckets): per client address,
per web conversation, and staff sign-in attempts per address."""

from __future__ import annotations

from liangwang.rate_limit import RateLimit


class RateLimits:
    """The app's limits: per client address, per web conversation, and staff sign-in
    attempts per address (half a minute's worth at once)."""

    def __init__(
        self,
        per_address_per_minute: int,
        per_conversation_per_minute: int,
        sign_ins_per_minute: int,
    ) -> None:
        self.address = RateLimit(per_address_per_minute)
        # The web page asking for staff replies while a person holds its chat: its own
        # bucket, so waiting for a reply never uses up what the citizen may send.
        self.polls = RateLimit(per_address_per_minute)
        self.conversation = RateLimit(per_conversation_per_minute)
        self.sign_in = RateLimit(sign_ins_per_minute, burst=max(1, sign_ins_per_minute // 2))
