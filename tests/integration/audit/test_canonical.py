"""The chain's canonical bytes are RFC 8785 JSON, whichever path computes them."""

from __future__ import annotations

import json
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

import audit

STATES: list[Any] = [
    {"timestamp": {"_type_": "datetime_iso", "_data_": "2026-11-27T00:24:20+00:00"}, "a": 1},
    {"title": 'quote " backslash \\ slash / tab \t newline \n bell \x07 del \x7f'},
    {"名称": "海城市人民政府", "name_en": "Haicheng", "z": [True, False, None, 0, -1]},
    {"é": 1, "e": 2, "\u00e9\u0301": 3, "": {"nested": {"b": 1, "a": [{"y": 1, "x": 2}]}}},
    {"emoji": "flood 🌊", "🌊": "key beyond the BMP"},
    # U+FF01 sorts before U+1F30A by code point, after it by UTF-16 code units (D83C).
    {"\uff01": "fullwidth", "🌊": "wave", "a": {"\ue000": 1, "\U0001f30a": 2}},
    {"ratio": 0.1, "big": 1e21, "whole": 2.0, "neg": -0.0},
    {"id": 9007199254740991, "digits": "1234567890123456789"},
    {"line separators": "\u2028\u2029", "control": "\x00\x1f"},
    {"meta": {"_type_": "closedloop_meta", "_data_": {"person": "p", "cause": None}}},
    {"meta": {"_type_": "something_else", "_data_": 1}, "timestamp": "not tagged"},
]


@pytest.mark.parametrize("state", STATES)
def test_the_fast_path_writes_exactly_what_rfc8785_writes(state: Any) -> None:
    raw = json.dumps(state, ensure_ascii=False, separators=(",", ":")).encode()
    fast = audit.canonical(7, "agg", 3, "domain.x:X.Happened", raw)
    reference = rfc8785.dumps(audit.record(7, "agg", 3, "domain.x:X.Happened", raw))
    assert fast == reference


def test_an_escaped_character_beyond_the_bmp_is_canonicalized_like_rfc8785() -> None:
    raw = b'{"\\ud83c\\udf0a":"wave","a":"\\ud83c\\udf0a"}'
    assert audit.canonical(1, "a", 1, "t", raw) == rfc8785.dumps(audit.record(1, "a", 1, "t", raw))


def test_the_envelope_is_not_lost_when_it_is_not_in_the_expected_shape() -> None:
    tagged = b'{"timestamp":{"_type_":"datetime_iso","_data_":"2026-01-01T00:00:00+00:00"}}'
    retagged = b'{"timestamp":{"_type_":"datetime_isoX","_data_":"2026-01-01T00:00:00+00:00"}}'
    assert audit.canonical(1, "a", 1, "t", tagged) != audit.canonical(1, "a", 1, "t", retagged)


def test_a_checkpoint_note_reads_back_as_it_was_signed(tmp_path: Any) -> None:
    signer = audit.Signer.from_file(tmp_path / "k.key", "closedloop.test/audit")
    from datetime import UTC, datetime

    cp = audit.Checkpoint.signed(
        signer, "closedloop.test/audit", 42, bytes(range(32)), 45, datetime(2026, 1, 1, tzinfo=UTC)
    )
    again = audit.Checkpoint.parse(cp.note())
    assert again == cp
    assert again.is_signed_by(signer.public)
    assert audit.PublicKey.from_verifier(signer.public.verifier) == signer.public
    assert (tmp_path / "k.key").stat().st_mode & 0o777 == 0o600


@pytest.mark.parametrize(
    "raw", [b'{"reading":123456789012345678901234567890}', b'{"reading":NaN,"x":1.5}']
)
def test_values_rfc8785_refuses_still_chain_so_that_no_event_stalls_the_chain(raw: bytes) -> None:
    once = audit.canonical(1, "a", 1, "t", raw)
    assert once == audit.canonical(1, "a", 1, "t", raw)
    assert once != audit.canonical(1, "a", 1, "t", raw.replace(b"1", b"2"))


# Strings from every plane (the fast path is chosen by the bytes it writes), keys mostly
# from the ranges whose order differs between code points and UTF-16 code units
# (U+E000-U+FFFF against anything beyond the BMP), integers inside I-JSON's range, and
# floats that rfc8785 accepts.
_TEXT = st.text(st.characters(exclude_categories=["Cs"]), max_size=6)
_KEYS = (
    st.text(st.sampled_from("a\u00e9\ue000\uff01\uffff\U0001f30a\U0010ffff"), max_size=2) | _TEXT
)
_LEAVES = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | _TEXT
)
_JSON = st.recursive(
    _LEAVES,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_KEYS, inner, max_size=4),
    max_leaves=12,
)


@settings(max_examples=300, deadline=None)
@given(state=st.dictionaries(_KEYS, _JSON, max_size=5), escaped=st.booleans())
def test_any_state_canonicalizes_exactly_as_rfc8785_whichever_path_it_takes(
    state: dict[str, Any], escaped: bool
) -> None:
    raw = json.dumps(state, ensure_ascii=escaped, separators=(",", ":")).encode()
    reference = rfc8785.dumps(audit.record(7, "agg", 3, "domain.x:X.Happened", raw))
    assert audit.canonical(7, "agg", 3, "domain.x:X.Happened", raw) == reference
