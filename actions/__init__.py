"""Rasa custom actions: thin adapters that read the tracker, call the core, return events."""
