"""Conversation review (转录审阅): every conversation of every channel, as staff read,
search and correct it.

Rasa's tracker store keeps each conversation event as a row of its ``events`` table;
``ingest`` reads what is new there, through the one translation layer ``rasa_events``,
into our tables (``models``): turns with what NLU
made of them, and a summary per conversation for the list's filters. Rasa's tables are
never written. ``search`` finds turns by Chinese words (segmented with jieba when
written); ``listing`` filters the conversations.
"""
