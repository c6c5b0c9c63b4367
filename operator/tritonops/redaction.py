"""Take credentials out of text that others wrote (Triton's last log lines, an API server's message)
before it reaches a status, an event or a log. Pure.

The operator never reads Secrets, but a model's own code, Triton's storage errors or a user's env can
print one: a URL with a password in it, a signed S3 URL, a key given as `NAME=value`, a bearer token.
"""

from __future__ import annotations

import re

REDACTED = "<redacted>"

_PATTERNS: tuple[tuple[re.Pattern[str], str], ...] = (
    # `Authorization: Bearer eyJ...`, the operator's own token in a client error.
    (re.compile(r"(?i)\b(bearer\s+)[^\s'\",;]+"), rf"\g<1>{REDACTED}"),
    # `https://user:password@host/...`: the userinfo of any URL.
    # A password may hold a raw "/" (unencoded); over-redacting a `host:port/path@` is harmless.
    (re.compile(r"(?i)\b([a-z][a-z0-9+.-]*://)[^/\s@:'\"]*:[^\s@'\"]*@"), rf"\g<1>{REDACTED}@"),
    # `aws_secret_access_key = ...`, `password: ...`, `X-Amz-Signature=...`, `AccountKey=...;`, `sig=...&`.
    (
        re.compile(
            r"(?i)\b((?:aws_)?(?:secret_access_key|session_token|secret(?:[_-]?key)?|password|passwd|api[_-]?key|access[_-]?token|"
            r"token|accountkey|sharedaccesssignature|x-amz-signature|x-amz-credential|x-amz-security-token|x-goog-signature|"
            r"x-goog-credential|sig|private[_-]?key)[\"']?\s*[=:]\s*[\"']?)[^\s'\"&;,]+"
        ),
        rf"\g<1>{REDACTED}",
    ),
    # AWS access key ids, which identify an account's user even without their secret.
    (re.compile(r"\b(?:AKIA|ASIA)[0-9A-Z]{16}\b"), REDACTED),
    # A PEM private key block, whole (a model or a sidecar printing its TLS key).
    (re.compile(r"-----BEGIN [A-Z ]*PRIVATE KEY-----.*?(?:-----END [A-Z ]*PRIVATE KEY-----|$)", re.DOTALL), REDACTED),
)


def redact(text: str) -> str:
    """The text with every credential-looking part replaced by `<redacted>`; anything else is kept."""
    for pattern, replacement in _PATTERNS:
        text = pattern.sub(replacement, text)
    return text
