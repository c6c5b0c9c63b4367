from __future__ import annotations

import pytest

from tritonops.redaction import REDACTED, redact

SECRET = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"

CASES = [
    ("Authorization: Bearer eyJhbGciOiJSUzI1NiJ9.payload", "eyJhbGciOiJSUzI1NiJ9"),
    (f"failed to load from https://admin:{SECRET}@s3.internal/models", SECRET),
    (f"AWS_SECRET_ACCESS_KEY={SECRET}", SECRET),
    (f"aws_secret_access_key = {SECRET}", SECRET),
    (f"password: '{SECRET}'", SECRET),
    (f'{{"api_key": "{SECRET}"}}', SECRET),
    (f"GET /bucket/m?X-Amz-Credential=AKIAIOSFODNN7EXAMPLE%2F2026&X-Amz-Signature={SECRET}&x=1", SECRET),
    ("key id AKIAIOSFODNN7EXAMPLE was refused", "AKIAIOSFODNN7EXAMPLE"),
    (f"DefaultEndpointsProtocol=https;AccountName=acct;AccountKey={SECRET};EndpointSuffix=core", SECRET),
    (f"https://acct.blob.core.windows.net/c/m?sv=2024&sig={SECRET}&se=2026", SECRET),
    ("-----BEGIN RSA PRIVATE KEY-----\nMIIEow\nsecretbody\n-----END RSA PRIVATE KEY-----", "secretbody"),
]


@pytest.mark.parametrize(("text", "secret"), CASES, ids=[case[1][:12] + str(index) for index, case in enumerate(CASES)])
def test_credentials_are_taken_out(text: str, secret: str) -> None:
    redacted = redact(text)
    assert secret not in redacted
    assert REDACTED in redacted


@pytest.mark.parametrize("text", [
    "E1122 model_lifecycle.cc] failed to load 'doubler' version 2: Internal: boom",
    "Triton exited with code 137, 1 restart(s)",
    "0/6 nodes are available: 6 Insufficient nvidia.com/gpu",
    "s3://models/repo/resnet/3 not found",
    "received signal: killed",
])
def test_ordinary_text_is_kept(text: str) -> None:
    assert redact(text) == text


def test_the_key_name_stays_so_the_reader_knows_what_was_there() -> None:
    assert redact(f"AWS_SECRET_ACCESS_KEY={SECRET} rest") == f"AWS_SECRET_ACCESS_KEY={REDACTED} rest"
