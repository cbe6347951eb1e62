"""Web app (FastAPI): the citizens' web chat page, the staff back office and the public APIs."""
