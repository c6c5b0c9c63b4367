"""AWS Signature Version 4 for S3 requests, in the Authorization header. Pure."""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import hmac
import urllib.parse
from collections.abc import Mapping, Sequence

ALGORITHM = "AWS4-HMAC-SHA256"
EMPTY_PAYLOAD_SHA256 = hashlib.sha256(b"").hexdigest()


@dataclasses.dataclass(frozen=True, kw_only=True)
class Credentials:
    access_key_id: str
    secret_access_key: str
    session_token: str | None = None

    def __repr__(self) -> str:
        # A traceback or a debug print must never show the secret.
        return f"Credentials(access_key_id=<redacted>, session_token={'<redacted>' if self.session_token else None})"


def _quote(text: str, *, safe: str) -> str:
    # RFC 3986 unreserved characters stay; everything else is percent-encoded, as SigV4 requires.
    return urllib.parse.quote(text, safe=f"-_.~{safe}")


def canonical_uri(path: str) -> str:
    """S3's canonical URI: each segment encoded once (S3 does not double-encode)."""
    return _quote(path or "/", safe="/")


def canonical_query(query: Sequence[tuple[str, str]]) -> str:
    encoded = sorted((_quote(key, safe=""), _quote(value, safe="")) for key, value in query)
    return "&".join(f"{key}={value}" for key, value in encoded)


def _hmac(key: bytes, message: str) -> bytes:
    return hmac.new(key, message.encode(), hashlib.sha256).digest()


def signing_key(*, secret_access_key: str, date: str, region: str, service: str) -> bytes:
    key = _hmac(f"AWS4{secret_access_key}".encode(), date)
    key = _hmac(key, region)
    key = _hmac(key, service)
    return _hmac(key, "aws4_request")


def authorization(
    *,
    method: str,
    path: str,
    query: Sequence[tuple[str, str]],
    headers: Mapping[str, str],
    payload_sha256: str,
    credentials: Credentials,
    region: str,
    service: str,
    timestamp: datetime.datetime,
) -> str:
    """The Authorization header of a request whose `headers` already hold host and x-amz-date."""
    normalized = {name.lower().strip(): " ".join(str(value).split()) for name, value in headers.items()}
    signed = sorted(normalized)
    canonical_headers = "".join(f"{name}:{normalized[name]}\n" for name in signed)
    signed_headers = ";".join(signed)
    canonical_request = "\n".join(
        [method, canonical_uri(path), canonical_query(query), canonical_headers, signed_headers, payload_sha256]
    )
    date = timestamp.strftime("%Y%m%d")
    scope = f"{date}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(
        [ALGORITHM, timestamp.strftime("%Y%m%dT%H%M%SZ"), scope, hashlib.sha256(canonical_request.encode()).hexdigest()]
    )
    key = signing_key(secret_access_key=credentials.secret_access_key, date=date, region=region, service=service)
    signature = hmac.new(key, string_to_sign.encode(), hashlib.sha256).hexdigest()
    return f"{ALGORITHM} Credential={credentials.access_key_id}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"


def signed_headers(
    *,
    method: str,
    host: str,
    path: str,
    query: Sequence[tuple[str, str]],
    credentials: Credentials | None,
    region: str,
    timestamp: datetime.datetime,
    extra: Mapping[str, str] | None = None,
    payload_sha256: str = EMPTY_PAYLOAD_SHA256,
) -> dict[str, str]:
    """Every header an S3 request sends (an empty body unless its hash is given); unsigned without credentials."""
    headers = {"host": host, "x-amz-date": timestamp.strftime("%Y%m%dT%H%M%SZ"), "x-amz-content-sha256": payload_sha256, **(extra or {})}
    if credentials is None:
        return headers
    if credentials.session_token:
        headers["x-amz-security-token"] = credentials.session_token
    headers["Authorization"] = authorization(
        method=method, path=path, query=query, headers=headers, payload_sha256=payload_sha256,
        credentials=credentials, region=region, service="s3", timestamp=timestamp,
    )
    return headers
