"""The verifier's own fast codecs against references: base45 against the base45 package, Sig_structure against cbor2."""

from __future__ import annotations

import random

import base45
import cbor2
import pytest

from license_verifier.base45 import ALPHABET, b45decode
from license_verifier.qr import sig_structure

STRAYS = "abz\n \t\u00e9\u4e2d"  # lower case, white space around, non-ASCII: none is base45


def _reference(text: str) -> bytes | None:
    """The straightforward decoder: RFC 9285 characters only, then the base45 package; None when it refuses."""
    if not set(text) <= set(ALPHABET):  # the package alone would strip a trailing newline
        return None
    try:
        return base45.b45decode(text)
    except ValueError:
        return None


def _ours(text: str) -> bytes | None:
    try:
        return b45decode(text)
    except ValueError:
        return None


def _random_text(rng: random.Random) -> str:
    kind = rng.randrange(3)
    if kind == 0:  # well-formed
        return base45.b45encode(rng.randbytes(rng.randrange(40))).decode("ascii")
    if kind == 1:  # any base45 characters: group values above range, lengths of 1 mod 3
        return "".join(rng.choice(ALPHABET) for _ in range(rng.randrange(40)))
    text = list(base45.b45encode(rng.randbytes(rng.randrange(1, 40))).decode("ascii"))
    text[rng.randrange(len(text))] = rng.choice(STRAYS)
    return "".join(text)


def test_base45_decoder_agrees_with_the_reference_on_random_text():
    rng = random.Random(45)
    texts = [_random_text(rng) for _ in range(20_000)]
    assert {_reference(t) is None for t in texts} == {True, False}  # both outcomes are exercised
    disagreements = [t for t in texts if _ours(t) != _reference(t)]
    assert disagreements == []


@pytest.mark.parametrize("text", ["", "0", "GGW", "GGX", "FGW", ":::", "::", "U5", "u5", "00\n", " 00"])
def test_base45_decoder_agrees_with_the_reference_at_the_edges(text):
    assert _ours(text) == _reference(text)


@pytest.mark.parametrize("protected_length", [0, 1, 23, 24, 255, 256])
@pytest.mark.parametrize("payload_length", [0, 23, 24, 255, 256, 65535, 65536])
def test_sig_structure_is_what_cbor2_encodes(protected_length, payload_length):
    protected, payload = bytes(range(256))[:protected_length], b"\x07" * payload_length
    assert sig_structure(protected, payload) == cbor2.dumps(["Signature1", protected, b"", payload])
