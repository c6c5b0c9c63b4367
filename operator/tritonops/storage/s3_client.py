"""A small S3 client on the standard library: ListObjectsV2 under a prefix and GetObject, signed with SigV4.

Every request has a socket timeout, and retries are bounded in count: a store that does not answer is a
failure within seconds, never a hang of the pod's start.
"""

from __future__ import annotations

import dataclasses
import datetime
import http.client
import pathlib
import ssl
import time
import urllib.parse
import xml.etree.ElementTree as ElementTree
from collections.abc import Iterator

from tritonops.storage import s3_signing
from tritonops.storage.errors import StorageError
from tritonops.storage.s3_signing import Credentials

_NAMESPACE = "{http://s3.amazonaws.com/doc/2006-03-01/}"
MAX_PAGES = 1000
_CHUNK = 1 << 20


@dataclasses.dataclass(frozen=True, kw_only=True)
class StoredObject:
    key: str
    size: int
    # The store's version tag of the content, quotes removed.
    etag: str


@dataclasses.dataclass(frozen=True)
class S3RequestError(StorageError):
    """The S3 error response: its HTTP status and S3's own Code and Message."""

    status: int
    code: str
    message: str

    def __str__(self) -> str:
        return f"{self.code} (HTTP {self.status}): {self.message}"


def _text(element: ElementTree.Element, name: str) -> str:
    found = element.find(f"{_NAMESPACE}{name}")
    if found is None:
        found = element.find(name)
    return (found.text or "") if found is not None else ""


@dataclasses.dataclass(frozen=True, kw_only=True)
class S3Client:
    endpoint: str  # scheme://host[:port]
    region: str
    credentials: Credentials | None
    timeout_seconds: float = 10.0
    attempts: int = 3
    backoff_seconds: float = 0.5

    def _connection(self) -> http.client.HTTPConnection:
        parsed = urllib.parse.urlsplit(self.endpoint)
        if parsed.scheme == "https":
            return http.client.HTTPSConnection(parsed.netloc, timeout=self.timeout_seconds, context=ssl.create_default_context())
        return http.client.HTTPConnection(parsed.netloc, timeout=self.timeout_seconds)

    def _request(self, *, path: str, query: list[tuple[str, str]]) -> tuple[http.client.HTTPConnection, http.client.HTTPResponse]:
        """A GET answered 2xx, retried on connection errors and 5xx; S3RequestError otherwise."""
        host = urllib.parse.urlsplit(self.endpoint).netloc
        last_error: Exception | None = None
        for attempt in range(self.attempts):
            if attempt:
                time.sleep(self.backoff_seconds * 2 ** (attempt - 1))
            headers = s3_signing.signed_headers(
                method="GET", host=host, path=path, query=query, credentials=self.credentials, region=self.region,
                timestamp=datetime.datetime.now(datetime.timezone.utc),
            )
            target = urllib.parse.quote(path, safe="/-_.~") + (f"?{s3_signing.canonical_query(query)}" if query else "")
            connection = self._connection()
            try:
                connection.request("GET", target, headers=headers)
                response = connection.getresponse()
            except (OSError, http.client.HTTPException) as error:
                connection.close()
                last_error = error
                continue
            if 200 <= response.status < 300:
                return connection, response
            body = response.read()
            connection.close()
            refused = self._error(response.status, body)
            if response.status < 500:
                raise refused
            last_error = refused
        if isinstance(last_error, S3RequestError):
            raise last_error
        raise StorageError(f"cannot reach {self.endpoint} after {self.attempts} attempts: {last_error}")

    @staticmethod
    def _error(status: int, body: bytes) -> S3RequestError:
        try:
            root = ElementTree.fromstring(body)
            return S3RequestError(status, _text(root, "Code") or "Error", _text(root, "Message") or "no message")
        except ElementTree.ParseError:
            return S3RequestError(status, "Error", body[:200].decode(errors="replace") or "no body")

    def list_objects(self, *, bucket: str, prefix: str) -> Iterator[StoredObject]:
        """Every object whose key starts with `prefix`, page by page (ListObjectsV2)."""
        token: str | None = None
        for _ in range(MAX_PAGES):
            query = [("list-type", "2"), ("prefix", prefix)]
            if token:
                query.append(("continuation-token", token))
            connection, response = self._request(path=f"/{bucket}", query=query)
            try:
                root = ElementTree.fromstring(response.read())
            finally:
                connection.close()
            for item in [*root.findall(f"{_NAMESPACE}Contents"), *root.findall("Contents")]:
                yield StoredObject(key=_text(item, "Key"), size=int(_text(item, "Size") or 0), etag=_text(item, "ETag").strip('"'))
            if _text(root, "IsTruncated") != "true":
                return
            token = _text(root, "NextContinuationToken")
        raise StorageError(f"bucket {bucket}: more than {MAX_PAGES} pages of objects under {prefix!r}")

    def get_object(self, *, bucket: str, key: str, destination: pathlib.Path) -> int:
        """Write the object to `destination`; the number of bytes written."""
        connection, response = self._request(path=f"/{bucket}/{key}", query=[])
        written = 0
        try:
            with destination.open("wb") as output:
                while chunk := response.read(_CHUNK):
                    output.write(chunk)
                    written += len(chunk)
        except (OSError, http.client.HTTPException) as error:
            raise StorageError(f"reading {key} from bucket {bucket} failed: {error}") from None
        finally:
            connection.close()
        return written
