"""The bounds of the text the record takes, in one home: the aggregates check them, and
the API states the same numbers in its schemas, so that a request over a bound is
refused at the edge, naming the field, with the limit the domain would have given."""

from __future__ import annotations

from domain.errors import InvalidValue, check_printable

#: A unit's code (letters, digits, '.', '_', '-').
MAX_CODE = 64
#: A unit's name, in either language.
MAX_NAME = 200
#: A warning's or an instruction's title.
MAX_TITLE = 200
#: A description, an instruction's content, a result.
MAX_TEXT = 10_000
#: A note, a reason.
MAX_NOTE = 2_000
#: A short name: a warning's source, a rule's code.
MAX_SHORT = 128
#: Where a warning was observed.
MAX_LOCATION = 500
#: The key that folds repeats of one condition into one warning.
MAX_DEDUP_KEY = 256

#: The evidence of one action: how many references, and how long each.
MAX_EVIDENCE = 20
MAX_REFERENCE = 1_000


def check_text(value: str | None, what: str, limit: int, *, required: bool) -> str:
    """The text, stripped, once it is within ``limit`` and printable; "" for an empty
    optional one."""
    if value is None or not value.strip():
        if required:
            raise InvalidValue(f"{what} cannot be empty")
        return ""
    if len(value) > limit:
        raise InvalidValue(f"{what} is limited to {limit} characters")
    check_printable(value, what)
    return value.strip()
