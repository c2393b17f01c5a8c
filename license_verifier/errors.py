"""The one failure type of QR decoding."""

from __future__ import annotations


class QRFormatError(Exception):
    """The text is not a well-formed hub QR payload; ``code`` says which rule it broke."""

    def __init__(self, code: str, detail: str = "") -> None:
        super().__init__(f"{code}: {detail}" if detail else code)
        self.code, self.detail = code, detail
