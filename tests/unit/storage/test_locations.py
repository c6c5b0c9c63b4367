from __future__ import annotations

import pytest

from tritonops.storage import locations, stores
from tritonops.storage.errors import StorageError
from tritonops.storage.locations import Location


@pytest.mark.parametrize(
    ("repository", "expected"),
    [
        ("s3://models/team/repo/", Location(scheme="s3", bucket="models", prefix="team/repo")),
        ("s3://models", Location(scheme="s3", bucket="models", prefix="")),
        ("s3://127.88.0.1:9000/models/repo", Location(scheme="s3", bucket="models", prefix="repo", endpoint="http://127.88.0.1:9000")),
        ("s3://https://s3.example.com/models/repo", Location(scheme="s3", bucket="models", prefix="repo", endpoint="https://s3.example.com")),
        ("gs://bucket/path/to/repo", Location(scheme="gs", bucket="bucket", prefix="path/to/repo")),
        ("as://account/container/repo", Location(scheme="as", bucket="container", prefix="repo", account="account")),
    ],
)
def test_tritons_url_forms(repository: str, expected: Location) -> None:
    assert locations.parse(repository) == expected


@pytest.mark.parametrize("repository", ["s3://", "gs:///x", "as://account", "as:///container", "s3://host:port/b", "file:///x", "s3://http:///b"])
def test_malformed_urls_name_the_repository(repository: str) -> None:
    with pytest.raises(StorageError, match="^" + repository.replace("/", "/")[:5]):
        locations.parse(repository)


def test_keys_join_the_prefix() -> None:
    location = locations.parse("s3://models/repo")
    assert location.key("doubler", "1") == "repo/doubler/1"
    assert locations.parse("s3://models").key("doubler", "config.pbtxt") == "doubler/config.pbtxt"


def test_s3_endpoint_region_and_credentials_come_from_the_url_then_the_environment() -> None:
    plain = locations.parse("s3://models/repo")
    assert stores.s3_endpoint(plain, {}) == "https://s3.us-east-1.amazonaws.com"
    assert stores.s3_endpoint(plain, {"AWS_REGION": "eu-west-1"}) == "https://s3.eu-west-1.amazonaws.com"
    assert stores.s3_endpoint(plain, {"AWS_ENDPOINT_URL": "http://127.0.0.1:9000/"}) == "http://127.0.0.1:9000"
    assert stores.s3_endpoint(locations.parse("s3://127.0.0.1:1/b"), {"AWS_ENDPOINT_URL": "http://other"}) == "http://127.0.0.1:1"
    assert stores.s3_credentials({}) is None
    credentials = stores.s3_credentials({"AWS_ACCESS_KEY_ID": "k", "AWS_SECRET_ACCESS_KEY": "s", "AWS_SESSION_TOKEN": "t"})
    assert credentials is not None and credentials.session_token == "t"


def test_gcs_and_azure_select_their_sdk_and_say_so_when_it_is_missing() -> None:
    # Neither SDK is installed here (nor in the operator image): the error names the package to add.
    with pytest.raises(StorageError, match="google-cloud-storage"):
        stores.store_for(locations.parse("gs://bucket/repo"), {})
    with pytest.raises(StorageError, match="azure-storage-blob"):
        stores.store_for(locations.parse("as://account/container/repo"), {})
    assert stores.azure_account_url(locations.parse("as://acct/c/r")) == "https://acct.blob.core.windows.net"
    assert isinstance(stores.store_for(locations.parse("s3://b/r"), {}), stores.S3Client)
