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
from typing import Any

import msgspec
from eventsourcing.persistence import JSONTranscoder, Mapper, Transcoder


class _FastJSONTranscoder(Transcoder):
    """Decodes what ``store`` encoded, as ``store`` would; encodes nothing of its own."""

    def __init__(self, store: JSONTranscoder) -> None:
        self._store = store
        self._names = store.names
        self._parse = msgspec.json.Decoder().decode

    def encode(self, obj: Any) -> bytes:
        return self._store.encode(obj)

    def decode(self, data: bytes) -> Any:
        try:
            return self._revive(self._parse(data))
        except Exception:
            # What msgspec refuses, or a transcoding not registered: the store's own
            # decoder answers, or raises its own error.
            return self._store.decode(data)

    def _revive(self, value: Any) -> Any:
        if type(value) is dict:
            for key, item in value.items():
                kind = type(item)
                if kind is dict or kind is list:
                    value[key] = self._revive(item)
            if len(value) == 2 and "_type_" in value and "_data_" in value:
                return self._names[value["_type_"]].decode(value["_data_"])
            return value
        return [self._revive(x) if type(x) is dict or type(x) is list else x for x in value]


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
