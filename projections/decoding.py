"""Decoding the log for the runner: the same domain events as the store's mapper, sooner.

The store's JSON transcoder parses with the standard library and calls a Python hook for
every JSON object; during a rebuild that decoding is the largest cost after the views
themselves. :func:`event_decoder` answers a function that turns a notification into the
very event the mapper would make: the library's own ``Mapper.to_domain_event`` (topic,
id conversion, upcasting), with a transcoder that parses with msgspec and then revives the
transcoded objects (``{"_type_": …, "_data_": …}``) with the store's own transcodings, in
the same inner-first order as the hook. Anything msgspec refuses or reads differently
(``NaN``, numbers out of range, lone surrogates) is decoded again by the store's own
transcoder, so the answer is the same in every case; a mapper that compresses or
encrypts is used as it is.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime
from typing import Any
from uuid import UUID

import msgspec
from eventsourcing.persistence import (
    DatetimeAsISO,
    JSONTranscoder,
    Mapper,
    Transcoder,
    UUIDAsHex,
)

#: How many distinct UUIDs the decoder remembers (a loop's id recurs in all its events).
UUID_CACHE = 16_384


class _FastJSONTranscoder(Transcoder):
    """Decodes what ``store`` encoded, as ``store`` would; encodes nothing of its own."""

    def __init__(self, store: JSONTranscoder) -> None:
        self._store = store
        self._parse = msgspec.json.Decoder().decode
        self._uuids: dict[str, UUID] = {}
        self._decoders: dict[str, Callable[[Any], Any]] = {}
        self._learn_transcodings()

    def _learn_transcodings(self) -> None:
        # The library's own transcodings of UUIDs and datetimes are called directly
        # (the same functions, without a method call and an assert each); a UUID read
        # again is taken from a bounded memory, as UUIDs are immutable.
        for name, transcoding in self._store.names.items():
            if type(transcoding) is UUIDAsHex:
                self._decoders[name] = self._uuid
            elif type(transcoding) is DatetimeAsISO:
                self._decoders[name] = datetime.fromisoformat
            else:
                self._decoders[name] = transcoding.decode

    def encode(self, obj: Any) -> bytes:
        return self._store.encode(obj)

    def decode(self, data: bytes) -> Any:
        try:
            value = self._parse(data)
            if type(value) is dict:
                return self._revive_dict(value)
            if type(value) is list:
                return self._revive_list(value)
            return value
        except Exception:
            # What msgspec refuses, or a transcoding not registered: the store's own
            # decoder answers, or raises its own error. A transcoding registered with
            # the store since is learnt for the next events.
            if len(self._decoders) != len(self._store.names):
                self._learn_transcodings()
            return self._store.decode(data)

    def _uuid(self, data: str) -> UUID:
        found = self._uuids.get(data)
        if found is None:
            if type(data) is not str:
                raise TypeError(f"a UUID is transcoded as text, not {type(data).__name__}")
            if len(self._uuids) >= UUID_CACHE:
                self._uuids.clear()
            found = self._uuids[data] = UUID(data)
        return found

    def _revive_dict(self, value: dict[str, Any]) -> Any:
        for key, item in value.items():
            kind = type(item)
            if kind is dict:
                # Most objects in the log are a transcoded scalar: decoded here directly,
                # without a call of its own (its text holds nothing to revive first).
                if len(item) == 2 and "_type_" in item and "_data_" in item:
                    data = item["_data_"]
                    kind = type(data)
                    if kind is dict:
                        data = self._revive_dict(data)
                    elif kind is list:
                        data = self._revive_list(data)
                    value[key] = self._decoders[item["_type_"]](data)
                else:
                    value[key] = self._revive_dict(item)
            elif kind is list:
                value[key] = self._revive_list(item)
        if len(value) == 2 and "_type_" in value and "_data_" in value:
            return self._decoders[value["_type_"]](value["_data_"])
        return value

    def _revive_list(self, value: list[Any]) -> list[Any]:
        return [
            self._revive_dict(x)
            if type(x) is dict
            else self._revive_list(x)
            if type(x) is list
            else x
            for x in value
        ]


def event_decoder(mapper: Mapper[Any]) -> Callable[[Any], Any]:
    """``mapper.to_domain_event``, or a faster equal of it when the mapper allows."""
    transcoder = mapper.transcoder
    if (
        type(mapper) is not Mapper
        or type(transcoder) is not JSONTranscoder
        or mapper.compressor is not None
        or mapper.cipher is not None
    ):
        return mapper.to_domain_event
    fast: Mapper[Any] = Mapper(transcoder=_FastJSONTranscoder(transcoder))
    return fast.to_domain_event
