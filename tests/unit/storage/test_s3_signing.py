"""SigV4 against AWS's published examples."""

from __future__ import annotations

import datetime

from tritonops.storage import s3_signing
from tritonops.storage.s3_signing import Credentials

# The signature test suite's credentials (aws-sig-v4-test-suite, "get-vanilla").
SUITE = Credentials(access_key_id="AKIDEXAMPLE", secret_access_key="wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY")
# The S3 API reference's example ("Example: GET Object", Signature Version 4 header authentication).
S3_EXAMPLE = Credentials(access_key_id="AKIAIOSFODNN7EXAMPLE", secret_access_key="wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY")


def test_the_signature_suites_get_vanilla_request() -> None:
    timestamp = datetime.datetime(2015, 8, 30, 12, 36, tzinfo=datetime.timezone.utc)
    header = s3_signing.authorization(
        method="GET", path="/", query=[], headers={"Host": "example.amazonaws.com", "X-Amz-Date": "20150830T123600Z"},
        payload_sha256=s3_signing.EMPTY_PAYLOAD_SHA256, credentials=SUITE, region="us-east-1", service="service", timestamp=timestamp,
    )
    assert header == (
        "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, SignedHeaders=host;x-amz-date, "
        "Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"
    )


def test_the_s3_references_get_object_example() -> None:
    timestamp = datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc)
    headers = s3_signing.signed_headers(
        method="GET", host="examplebucket.s3.amazonaws.com", path="/test.txt", query=[], credentials=S3_EXAMPLE,
        region="us-east-1", timestamp=timestamp, extra={"range": "bytes=0-9"},
    )
    assert headers["Authorization"] == (
        "AWS4-HMAC-SHA256 Credential=AKIAIOSFODNN7EXAMPLE/20130524/us-east-1/s3/aws4_request,"
        " SignedHeaders=host;range;x-amz-content-sha256;x-amz-date,"
        " Signature=f0e8bdb87c964420e857bd35b5d6ed310bd44f0170aba48dd91039c6036bdb41"
    )


def test_the_s3_references_list_objects_example_signs_a_sorted_query() -> None:
    timestamp = datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc)
    headers = s3_signing.signed_headers(
        method="GET", host="examplebucket.s3.amazonaws.com", path="/", query=[("prefix", "J"), ("max-keys", "2")],
        credentials=S3_EXAMPLE, region="us-east-1", timestamp=timestamp,
    )
    assert headers["Authorization"].endswith("Signature=34b48302e7b5fa45bde8084f4b7868a86f0a534bc59db6670ed5711ef69dc6f7")


def test_keys_and_values_are_encoded_once_with_only_unreserved_characters_kept() -> None:
    assert s3_signing.canonical_uri("/models/a b/1/model.py") == "/models/a%20b/1/model.py"
    assert s3_signing.canonical_query([("prefix", "m/1/"), ("list-type", "2")]) == "list-type=2&prefix=m%2F1%2F"


def test_a_session_token_is_sent_and_signed_and_anonymous_requests_carry_no_authorization() -> None:
    timestamp = datetime.datetime(2013, 5, 24, tzinfo=datetime.timezone.utc)
    with_token = Credentials(access_key_id="AKIDEXAMPLE", secret_access_key="secret", session_token="token-value")
    headers = s3_signing.signed_headers(method="GET", host="h", path="/", query=[], credentials=with_token, region="r", timestamp=timestamp)
    assert headers["x-amz-security-token"] == "token-value"
    assert "x-amz-security-token" in headers["Authorization"]
    anonymous = s3_signing.signed_headers(method="GET", host="h", path="/", query=[], credentials=None, region="r", timestamp=timestamp)
    assert "Authorization" not in anonymous


def test_credentials_never_print_their_secret() -> None:
    assert "wJalr" not in repr(S3_EXAMPLE) and "AKIA" not in repr(S3_EXAMPLE)
