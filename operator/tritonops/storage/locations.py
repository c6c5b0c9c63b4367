"""Parse s3://, gs:// and as:// repository URLs the way Triton reads them. Pure."""

from __future__ import annotations

import dataclasses
import urllib.parse
from typing import Literal

from tritonops.storage.errors import StorageError

Scheme = Literal["s3", "gs", "as"]
CLOUD_SCHEMES: tuple[str, ...] = ("s3://", "gs://", "as://")


@dataclasses.dataclass(frozen=True, kw_only=True)
class Location:
    """Where a model repository lives inside an object store.

    `bucket` is the S3 or GCS bucket, or the Azure container; `prefix` the repository's path inside it
    (no leading or trailing slash, empty at the bucket's root).
    """

    scheme: Scheme
    bucket: str
    prefix: str
    # s3 only: an explicit endpoint (scheme://host[:port]) written in the URL, as Triton accepts it.
    endpoint: str | None = None
    # as only: the storage account.
    account: str | None = None

    def key(self, *parts: str) -> str:
        """An object key below the repository's prefix."""
        return "/".join(part.strip("/") for part in (self.prefix, *parts) if part.strip("/"))


def is_cloud(repository: str) -> bool:
    return repository.startswith(CLOUD_SCHEMES)


def _split(rest: str, *, repository: str, what: str) -> tuple[str, str]:
    bucket, _, prefix = rest.partition("/")
    if not bucket:
        raise StorageError(f"{repository}: no {what} in the URL")
    return bucket, prefix.strip("/")


def _s3(rest: str, *, repository: str) -> Location:
    # Triton's forms: s3://bucket/path, s3://host:port/bucket/path and s3://http(s)://host:port/bucket/path.
    for protocol in ("http://", "https://"):
        if rest.startswith(protocol):
            host, _, remainder = rest[len(protocol):].partition("/")
            if not host:
                raise StorageError(f"{repository}: no host in the endpoint")
            bucket, prefix = _split(remainder, repository=repository, what="bucket")
            return Location(scheme="s3", bucket=bucket, prefix=prefix, endpoint=f"{protocol}{host}")
    first, _, remainder = rest.partition("/")
    if "@" in first:
        # Never echoed: what precedes the @ would be a key and its secret.
        raise StorageError(f"{repository}: credentials in the URL are not supported; use spec.model.credentialsSecretRef")
    if ":" in first:
        parsed = urllib.parse.urlsplit(f"//{first}")
        try:
            port = parsed.port
        except ValueError:
            port = None
        if not parsed.hostname or port is None:
            raise StorageError(f"{repository}: the first part of the URL is neither a bucket nor host:port")
        bucket, prefix = _split(remainder, repository=repository, what="bucket")
        # Triton speaks plain HTTP to a host:port endpoint with no protocol written.
        return Location(scheme="s3", bucket=bucket, prefix=prefix, endpoint=f"http://{first}")
    bucket, prefix = _split(rest, repository=repository, what="bucket")
    return Location(scheme="s3", bucket=bucket, prefix=prefix)


def parse(repository: str) -> Location:
    """The Location of a cloud repository URL; StorageError for anything else or a malformed one."""
    if repository.startswith("s3://"):
        return _s3(repository[len("s3://"):], repository=repository)
    if repository.startswith("gs://"):
        bucket, prefix = _split(repository[len("gs://"):], repository=repository, what="bucket")
        return Location(scheme="gs", bucket=bucket, prefix=prefix)
    if repository.startswith("as://"):
        # Triton's form: as://account/container/path.
        account, _, rest = repository[len("as://"):].partition("/")
        if not account:
            raise StorageError(f"{repository}: no storage account in the URL")
        container, prefix = _split(rest, repository=repository, what="container")
        return Location(scheme="as", bucket=container, prefix=prefix, account=account)
    raise StorageError(f"{repository}: not an s3://, gs:// or as:// repository")
