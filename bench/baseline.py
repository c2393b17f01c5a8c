"""The HTTP baseline: what a user could write in an afternoon to verify a hub QR, served like the hub.

`POST /verify` parses `{"qr": ...}` with pydantic, base45-decodes the text after `HUB1:`, reads the COSE_Sign1
with cbor2 and checks its ES256 signature over the Sig_structure with `cryptography`; `GET /` answers `{}`.
No status lists, no trust list, no rate limit, no audit, no guards: the floor the hub's routes are compared with.
Run as `uvicorn bench.baseline:create_app --factory` with the issuer's PEM public key in BENCH_BASELINE_KEY.
"""

from __future__ import annotations

import os

import base45
import cbor2
from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import encode_dss_signature
from cryptography.hazmat.primitives.serialization import load_pem_public_key
from fastapi import FastAPI
from pydantic import BaseModel

KEY_VARIABLE = "BENCH_BASELINE_KEY"


class VerifyBody(BaseModel):
    qr: str


def create_app() -> FastAPI:
    """Build the baseline app around the public key named by the environment."""
    public_key = load_pem_public_key(os.environ[KEY_VARIABLE].encode("ascii"))
    app = FastAPI()

    @app.post("/verify")
    async def verify(body: VerifyBody) -> dict:
        try:
            protected, _, payload, signature = cbor2.loads(base45.b45decode(body.qr.removeprefix("HUB1:"))).value
            message = cbor2.dumps(["Signature1", protected, b"", payload])
            der = encode_dss_signature(int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big"))
            public_key.verify(der, message, ec.ECDSA(hashes.SHA256()))
        except (ValueError, TypeError, AttributeError, cbor2.CBORDecodeError, InvalidSignature):
            return {"valid": False}
        return {"valid": True}

    @app.get("/")
    async def trivial() -> dict:
        return {}

    return app
