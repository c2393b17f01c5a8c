"""What a counter shows for each verification status, in Chinese and English."""

from __future__ import annotations

# Keyed by status value so the verifier and the hub's web pages share one table.
MESSAGES: dict[str, tuple[str, str]] = {
    "valid": ("证照有效", "The license is valid."),
    "expired": ("证照已超过有效期", "The license has expired."),
    "not_yet_valid": ("证照尚未生效", "The license is not valid yet."),
    "revoked": ("证照已被注销", "The license has been revoked."),
    "suspended": ("证照已被暂停使用", "The license is suspended."),
    "bad_signature": (
        "签名校验未通过，证照可能被篡改",
        "The signature does not verify; the license may have been altered.",
    ),
    "unknown_issuer": (
        "签发机构不在信任列表中或无权签发此类证照",
        "The issuer is not trusted to issue this license.",
    ),
    "malformed": ("二维码不是有效的电子证照", "The QR code is not a valid e-license."),
}


# Where the reason says more than the status, the counter sees the reason's message.
REASON_MESSAGES: dict[str, tuple[str, str]] = {
    "key_compromised": (
        "签发机构的签名密钥已声明泄露，此证照不可信，请联网核验或请签发机构换发",
        "The issuer's signing key was reported compromised: this license is not trusted; "
        "verify online or ask the issuer to re-issue it.",
    ),
    "superseded": ("证照已被换发，请使用新版本", "The license was replaced by a newer version."),
}


def messages_for(status: str, reason: str | None = None) -> tuple[str, str]:
    """Return the (Chinese, English) message for a status value, refined by its reason."""
    return REASON_MESSAGES.get(reason or "", MESSAGES[status])
