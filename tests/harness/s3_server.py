"""A real S3 server for the storage tests: versitygw (Apache-2.0) with a posix backend in a temporary directory.

It listens on 127.88.0.1: inside the pods' range (127.88.0.0/16, routed by every pod to its node's bridge),
outside every node's /24, so both the tests and the Triton pods of the real nodes reach it, and nothing
leaves 127.0.0.0/8. Objects are written through the S3 API, so ETags are the server's own.
"""

from __future__ import annotations

import dataclasses
import datetime
import hashlib
import http.client
import pathlib
import secrets
import shutil
import tempfile

from tritonops.devcluster import gobuild, network, versions
from tritonops.devcluster.processes import ManagedProcess, start_process, stop_process_group, wait_until
from tritonops.storage import s3_signing
from tritonops.storage.s3_signing import Credentials

HOST = "127.88.0.1"
REGION = "us-east-1"


@dataclasses.dataclass
class S3Server:
    log: pathlib.Path
    port: int = dataclasses.field(default_factory=lambda: network.free_port(HOST))
    access_key: str = dataclasses.field(default_factory=lambda: "TESTKEY" + secrets.token_hex(6).upper())
    secret_key: str = dataclasses.field(default_factory=lambda: secrets.token_urlsafe(24))
    root: pathlib.Path | None = None
    process: ManagedProcess | None = None

    @property
    def endpoint(self) -> str:
        return f"http://{HOST}:{self.port}"

    @property
    def credentials(self) -> Credentials:
        return Credentials(access_key_id=self.access_key, secret_access_key=self.secret_key)

    def start(self) -> None:
        binary = gobuild.ensure_binaries([versions.VERSITYGW])["versitygw"]
        self.root = pathlib.Path(tempfile.mkdtemp(prefix="tritonops-s3-"))
        command = [str(binary), "--port", f"{HOST}:{self.port}", "--access", self.access_key, "--secret", self.secret_key,
                   "--region", REGION, "--quiet", "posix", str(self.root)]
        self.process = start_process(name="versitygw", command=command, log=self.log)
        wait_until(self._answers, description="versitygw to answer", timeout_seconds=30, watched=[self.process])

    def stop(self) -> None:
        if self.process is not None:
            stop_process_group(self.process.pid)
            self.process = None
        if self.root is not None:
            shutil.rmtree(self.root, ignore_errors=True)

    def _answers(self) -> bool:
        status, _ = self.request("GET", "/")
        return status == 200

    def request(self, method: str, path: str, body: bytes = b"") -> tuple[int, bytes]:
        headers = s3_signing.signed_headers(
            method=method, host=f"{HOST}:{self.port}", path=path, query=[], credentials=self.credentials, region=REGION,
            timestamp=datetime.datetime.now(datetime.timezone.utc), payload_sha256=hashlib.sha256(body).hexdigest(),
        )
        connection = http.client.HTTPConnection(HOST, self.port, timeout=10)
        try:
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            return response.status, response.read()
        finally:
            connection.close()

    def create_bucket(self, bucket: str) -> None:
        status, body = self.request("PUT", f"/{bucket}")
        assert status == 200, body

    def put(self, bucket: str, key: str, body: bytes) -> None:
        status, answer = self.request("PUT", f"/{bucket}/{key}", body)
        assert status == 200, answer

    def upload_directory(self, bucket: str, directory: pathlib.Path, *, prefix: str = "") -> None:
        for path in sorted(directory.rglob("*")):
            if path.is_file():
                relative = path.relative_to(directory).as_posix()
                self.put(bucket, f"{prefix.strip('/')}/{relative}" if prefix.strip("/") else relative, path.read_bytes())
