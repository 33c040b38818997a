"""The HTTP API (Litestar + msgspec): the edge through which people and systems act."""
