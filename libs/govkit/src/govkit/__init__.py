"""The shared platform library: settings, logging, database and migrations,
outbox, inbox, dead letters, health and metrics, auth primitives, and the
assembly of one service process (FastStream consumer + FastAPI app)."""
