"""Offline verifier of the hub's e-license QR codes (docs/qr-format.md): decoding, trust list, status lists.

Imports nothing of the hub: a third party installs this one folder and checks a QR text against the
hub's signed trust list with no network::

    from license_verifier import load_trust_list, verify
    trust = load_trust_list(trust_list_jws, root_certificate_der)
    result = verify(qr_text, trust, datetime.now(timezone.utc))
"""

from license_verifier.errors import QRFormatError
from license_verifier.statuslist import StatusListError, StatusListView, verify_status_list
from license_verifier.trustlist import TrustList, TrustListError, load_trust_list
from license_verifier.verdict import Result, Status, StatusListFreshness
from license_verifier.verifier import Verifier, verify

__all__ = [
    "QRFormatError", "Result", "Status", "StatusListError", "StatusListFreshness", "StatusListView", "TrustList",
    "TrustListError", "Verifier", "load_trust_list", "verify", "verify_status_list",
]
