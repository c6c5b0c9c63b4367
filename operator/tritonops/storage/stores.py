"""One interface over S3, GCS and Azure Blob: list the objects under a prefix, copy one to a file.

S3 is served by the standard-library client; GCS and Azure need their SDKs (google-cloud-storage,
azure-storage-blob), imported only when such a repository is asked for, with a clear error when missing.
"""

from __future__ import annotations

import json
import os
import pathlib
from collections.abc import Iterator, Mapping
from typing import Any, Protocol

from tritonops.storage.errors import StorageError
from tritonops.storage.locations import Location
from tritonops.storage.s3_client import S3Client, StoredObject
from tritonops.storage.s3_signing import Credentials


class ObjectStore(Protocol):
    def list_objects(self, *, bucket: str, prefix: str) -> Iterator[StoredObject]: ...

    def get_object(self, *, bucket: str, key: str, destination: pathlib.Path) -> int: ...


def s3_endpoint(location: Location, environment: Mapping[str, str]) -> str:
    """The URL's own endpoint, else AWS_ENDPOINT_URL (as the AWS SDKs read it), else AWS's regional endpoint."""
    if location.endpoint:
        return location.endpoint
    configured = environment.get("AWS_ENDPOINT_URL_S3") or environment.get("AWS_ENDPOINT_URL")
    if configured:
        return configured.rstrip("/")
    return f"https://s3.{s3_region(environment)}.amazonaws.com"


def s3_region(environment: Mapping[str, str]) -> str:
    return environment.get("AWS_REGION") or environment.get("AWS_DEFAULT_REGION") or "us-east-1"


def s3_credentials(environment: Mapping[str, str]) -> Credentials | None:
    key, secret = environment.get("AWS_ACCESS_KEY_ID"), environment.get("AWS_SECRET_ACCESS_KEY")
    if not key or not secret:
        return None  # anonymous: a public bucket
    return Credentials(access_key_id=key, secret_access_key=secret, session_token=environment.get("AWS_SESSION_TOKEN") or None)


class _GcsStore:
    def __init__(self, environment: Mapping[str, str]) -> None:
        try:
            from google.cloud import storage  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise StorageError("gs:// repositories need the google-cloud-storage package, which this image does not have") from None
        # The service account's key, from the Secret; else Application Default Credentials (workload identity).
        key = environment.get("GOOGLE_APPLICATION_CREDENTIALS_JSON")
        self._client: Any = storage.Client.from_service_account_info(json.loads(key)) if key else storage.Client()

    def list_objects(self, *, bucket: str, prefix: str) -> Iterator[StoredObject]:
        for blob in self._client.list_blobs(bucket, prefix=prefix):
            yield StoredObject(key=blob.name, size=int(blob.size or 0), etag=str(blob.md5_hash or blob.etag or ""))

    def get_object(self, *, bucket: str, key: str, destination: pathlib.Path) -> int:
        self._client.bucket(bucket).blob(key).download_to_filename(str(destination))
        return destination.stat().st_size


class _AzureStore:
    def __init__(self, location: Location, environment: Mapping[str, str]) -> None:
        try:
            from azure.storage.blob import BlobServiceClient  # type: ignore[import-not-found,unused-ignore]
        except ImportError:
            raise StorageError("as:// repositories need the azure-storage-blob package, which this image does not have") from None
        connection_string = environment.get("AZURE_STORAGE_CONNECTION_STRING")
        if connection_string:
            self._service: Any = BlobServiceClient.from_connection_string(connection_string)
        else:
            credential = environment.get("AZURE_STORAGE_KEY") or environment.get("AZURE_STORAGE_SAS_TOKEN") or None
            self._service = BlobServiceClient(account_url=azure_account_url(location), credential=credential)

    def list_objects(self, *, bucket: str, prefix: str) -> Iterator[StoredObject]:
        for blob in self._service.get_container_client(bucket).list_blobs(name_starts_with=prefix):
            yield StoredObject(key=blob.name, size=int(blob.size or 0), etag=str(blob.etag or "").strip('"'))

    def get_object(self, *, bucket: str, key: str, destination: pathlib.Path) -> int:
        with destination.open("wb") as output:
            self._service.get_blob_client(bucket, key).download_blob().readinto(output)
        return destination.stat().st_size


def azure_account_url(location: Location) -> str:
    return f"https://{location.account}.blob.core.windows.net"


def store_for(location: Location, environment: Mapping[str, str] | None = None) -> ObjectStore:
    """The store that serves `location`, configured from the environment (the init container's Secret refs)."""
    environment = os.environ if environment is None else environment
    if location.scheme == "s3":
        return S3Client(endpoint=s3_endpoint(location, environment), region=s3_region(environment), credentials=s3_credentials(environment))
    if location.scheme == "gs":
        return _GcsStore(environment)
    return _AzureStore(location, environment)
