"""Photos citizens send with a complaint, kept beside the database for staff.

A photo is stored under a name we make (never one the sender chose) and a ticket refers to
it as ``photos/<name>``: not a Telegram file URL, which carries the bot's token and would
be published with the ticket. Size is bounded by the channel before anything is stored.
"""

from __future__ import annotations

import re
import uuid
from pathlib import Path

from liangwang.settings import Settings

PREFIX = "photos/"
_NAME = re.compile(r"[0-9a-f]{32}\.jpg")


class PhotoStore:
    def __init__(self, directory: Path, max_bytes: int) -> None:
        self.directory = directory
        self.max_bytes = max_bytes

    @classmethod
    def from_settings(cls, settings: Settings) -> PhotoStore:
        return cls(settings.photos_dir, settings.max_photo_bytes)

    def save(self, content: bytes) -> str:
        """Keep ``content``; returns the reference a ticket stores."""
        if len(content) > self.max_bytes:
            raise ValueError(f"photo of {len(content)} bytes, the limit is {self.max_bytes}")
        self.directory.mkdir(mode=0o700, parents=True, exist_ok=True)
        name = f"{uuid.uuid4().hex}.jpg"
        (self.directory / name).write_bytes(content)
        return PREFIX + name

    def path(self, name: str) -> Path | None:
        """The file of a stored photo's ``name``; None for any other name."""
        if not _NAME.fullmatch(name):
            return None
        found = self.directory / name
        return found if found.is_file() else None

    def file_of(self, media_url: str | None) -> Path | None:
        """The file a ticket's reference names; None for a public URL or nothing kept."""
        if media_url is None or not is_stored(media_url):
            return None
        return self.path(media_url.removeprefix(PREFIX))


def is_stored(media_url: str | None) -> bool:
    """Whether a ticket's media refers to a photo we keep (not a public URL)."""
    return bool(media_url) and str(media_url).startswith(PREFIX)
