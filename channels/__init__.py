"""Channels: processes that carry citizens' messages to the dialogue engine and back."""
