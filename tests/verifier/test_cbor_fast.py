"""The verifier's fast decoding path against the strict reference reader: the same values, the same refusals.

``CanonicalCBOR`` (cbor2's C decoder, proven by a canonical re-encoding) and the known protected headers
must never accept what the strict reader refuses, nor return anything but what it returns. Checked on
every vector, on hand-made CBOR the profile refuses, and on random bit flips, truncations and appended
bytes of valid messages.
"""

from __future__ import annotations

import random
from datetime import datetime, timezone
from collections.abc import Callable
from pathlib import Path
from typing import Any

import base45
import cbor2
import pytest

from license_verifier import cbor_fast
from license_verifier.algorithms import COSE_ALGS
from license_verifier.cbor import read_cbor
from license_verifier.cbor_fast import CanonicalCBOR
from license_verifier.errors import QRFormatError
from license_verifier.qr import PREFIX, decode_qr, protected_header
from license_verifier.trustlist import TrustList
from license_verifier.verdict import Status
from license_verifier.verifier import Verifier
from tests.vectors import make_vectors as mv

VECTORS = Path(__file__).parents[1] / "vectors"
TEXTS = {path.name: path.read_bytes().decode("utf-8") for path in sorted(VECTORS.glob("*.txt"))}
VALID = ("valid.txt", "valid_eddsa.txt", "valid_extra_elements.txt", "valid_without_status.txt")
MUTATIONS = 400  # per valid message and kind of input


@pytest.fixture(scope="module")
def headers() -> dict[bytes, tuple[int, bytes]]:
    trust = TrustList.from_document(mv.trust_document(mv.load_keys()))
    return {protected_header(COSE_ALGS[issuer.alg], kid): (COSE_ALGS[issuer.alg], kid)
            for kid, issuer in trust.issuers.items()}


def _outcome(call: Callable[[], Any]) -> tuple:
    """Return what call gives, as (repr of the value) or (error code, detail): repr tells True from 1."""
    try:
        return ("value", repr(call()))
    except QRFormatError as error:
        return ("refused", error.code, error.detail)


def _parts(name: str) -> list:
    return cbor2.loads(base45.b45decode(TEXTS[name][len(PREFIX):])).value


def _mutations(data: bytes, rng: random.Random) -> list[bytes]:
    """Return bit flips, byte changes, truncations and appended or inserted bytes of data."""
    out = []
    for _ in range(MUTATIONS):
        position = rng.randrange(len(data))
        flipped, changed = bytearray(data), bytearray(data)
        flipped[position] ^= 1 << rng.randrange(8)
        changed[position] = rng.choice((0x18, 0x1B, 0x1F, 0x5F, 0x7F, 0x9F, 0xBF, 0xC2, 0xD8, 0xF7, 0xF9, 0xFF,
                                        rng.randrange(256)))
        inserted = data[:position] + bytes([rng.randrange(256)]) + data[position:]
        out += [bytes(flipped), bytes(changed), data[:position], data + rng.randbytes(rng.randrange(1, 4)), inserted]
    return out


# Canonical CBOR the strict profile refuses, and non-canonical CBOR it accepts (docs/qr-format.md section 3).
HAND_MADE = [
    cbor2.dumps([1, cbor2.CBORTag(2, b"\x01")]),  # a bignum tag around a small integer
    cbor2.dumps(2**64),  # a bignum the canonical encoder writes with tag 2
    cbor2.dumps(-(2**64) - 1),
    cbor2.dumps(-(2**64)),  # the smallest integer without a tag
    bytes.fromhex("d9d9f78101"),  # the self-described CBOR tag, which cbor2 drops
    bytes.fromhex("d90100 82 63616263 d81900".replace(" ", "")),  # a string reference
    bytes.fromhex("82 d81c 8101 d81d00".replace(" ", "")),  # shared values
    bytes.fromhex("9f0102ff"), bytes.fromhex("7f616161 62ff".replace(" ", "")),  # indefinite lengths
    bytes.fromhex("a2010102 01".replace(" ", "") + "02"),  # a duplicate key
    bytes.fromhex("a1f501"), bytes.fromhex("a1410001"), bytes.fromhex("a1fb3ff000000000000001"),  # keys
    bytes.fromhex("f97e00"), bytes.fromhex("f97c00"), bytes.fromhex("f7"), bytes.fromhex("f0"),  # simple values
    bytes.fromhex("fb3ff8000000000000"), bytes.fromhex("f93e00"),  # 1.5 as double (not shortest) and half
    bytes.fromhex("1800"), bytes.fromhex("190001"), bytes.fromhex("5801ff"),  # non-preferred lengths
    bytes.fromhex("c11a5f5e1000"), bytes.fromhex("d903ec6a323032362d30352d3230"),  # a date and a day
    bytes.fromhex("d8186141"), bytes.fromhex("d2820102"),  # embedded CBOR; tag 18 where none is expected
    b"\x81" * 8 + b"\x01", b"\x81" * 9 + b"\x01", b"\x81" * 8 + b"\x80", b"\x81" * 9 + b"\x80",  # depth
    b"\xa1\x01" * 8 + b"\x01", b"\xa1\x01" * 9 + b"\x01",
    b"\x62\xc3\x28", b"\x01\x00", b"",  # invalid UTF-8, a trailing byte, nothing
]


@pytest.mark.parametrize("data", HAND_MADE, ids=lambda data: data.hex()[:24] or "empty")
def test_hand_made_cbor_reads_as_the_strict_reader_reads_it(data):
    fast = CanonicalCBOR()
    assert _outcome(lambda: fast.read(data)) == _outcome(lambda: read_cbor(data))
    assert _outcome(lambda: fast.read(data, 18)) == _outcome(lambda: read_cbor(data, 18))


@pytest.mark.parametrize("name", VALID)
def test_mutated_payloads_and_headers_read_as_the_strict_reader_reads_them(name):
    rng, fast = random.Random(f"cbor {name}"), CanonicalCBOR()
    protected, _, payload, _ = _parts(name)
    cose = base45.b45decode(TEXTS[name][len(PREFIX):])
    for data, tag in [(payload, None), (protected, None), (cose, 18)]:
        for mutated in [data, *_mutations(data, rng)]:
            assert _outcome(lambda: fast.read(mutated, tag)) == _outcome(lambda: read_cbor(mutated, tag)), mutated.hex()


def _texts_to_compare(rng: random.Random) -> list[str]:
    texts = list(TEXTS.values())
    for name in VALID:
        cose = base45.b45decode(TEXTS[name][len(PREFIX):])
        texts += [PREFIX + base45.b45encode(mutated).decode("ascii") for mutated in _mutations(cose, rng)]
    return texts


def test_every_vector_and_mutated_message_decodes_as_the_reference_decodes_it(headers):
    fast = CanonicalCBOR()
    for text in _texts_to_compare(random.Random(20261202)):
        assert _outcome(lambda: decode_qr(text, fast.read, headers)) == _outcome(lambda: decode_qr(text)), text


def test_a_payload_the_hub_writes_takes_the_fast_path(monkeypatch):
    """The fast path must really serve the hub's own payloads, not hand every one to the strict reader."""
    _, _, payload, _ = _parts("valid.txt")
    expected = read_cbor(payload)

    def refuse(*args: Any, **kwargs: Any) -> None:
        raise AssertionError("the strict reader was asked")

    monkeypatch.setattr(cbor_fast, "CBORReader", refuse)
    assert CanonicalCBOR().read(payload) == expected


@pytest.mark.parametrize("signature", ["another key's", "none"])
def test_a_payload_no_trusted_key_signed_never_reaches_the_c_decoder(monkeypatch, signature):
    """cbor2 acts on the tags it knows as it reads them (tag 35 compiles a regular expression): bytes nobody
    vouches for go to the strict reader only, which refuses the tag at once, and the verdict stays malformed."""
    protected, unprotected, payload, sig = _parts("valid.txt")
    bomb = cbor2.dumps(cbor2.CBORTag(35, "(a)" * 800))
    forged = sig[::-1] if signature == "another key's" else b""
    text = PREFIX + base45.b45encode(cbor2.dumps(cbor2.CBORTag(18, [protected, unprotected, bomb, forged]))).decode()
    asked = []
    monkeypatch.setattr(cbor_fast.cbor2, "loads", lambda data, *args, **kwargs: asked.append(data))
    result = Verifier(TrustList.from_document(mv.trust_document(mv.load_keys()))).verify(
        text, datetime.now(timezone.utc))
    assert (result.status, result.reason) == (Status.MALFORMED, "bad_cbor")
    assert asked == []
