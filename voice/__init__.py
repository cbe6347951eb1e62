"""Offline voice: audio pipeline, speech recognition (Vosk), speech synthesis, telephony."""
