"""A real S3-compatible server on loopback for the object-store tests: moto's
standalone server on 127.0.0.1 (random port), reached through s3fs exactly as a
user's store would be, with the endpoint and credentials in the environment.

    from tests.s3 import s3  # noqa: F401  (the fixture)

    def test_x(s3):  # s3 is "s3://<fresh bucket>"
"""

from __future__ import annotations

import logging
import uuid

import pytest

ENV = {
    "AWS_ACCESS_KEY_ID": "testing",
    "AWS_SECRET_ACCESS_KEY": "testing",
    "AWS_DEFAULT_REGION": "us-east-1",
}
# Settings that could point botocore elsewhere (a profile, a config file, IMDS).
UNSET = ("AWS_PROFILE", "AWS_SESSION_TOKEN", "AWS_SECURITY_TOKEN", "AWS_CONFIG_FILE",
         "AWS_SHARED_CREDENTIALS_FILE", "AWS_ENDPOINT_URL_S3", "FSSPEC_S3", "FSSPEC_S3_ENDPOINT_URL")


@pytest.fixture(scope="session")
def s3_server():
    from moto.server import ThreadedMotoServer

    logging.getLogger("werkzeug").setLevel(logging.ERROR)  # one access line per request otherwise
    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0, verbose=False)
    server.start()
    host, port = server.get_host_and_port()
    yield f"http://{host}:{port}"
    server.stop()


@pytest.fixture
def s3(s3_server, monkeypatch):
    """A fresh bucket on the loopback S3; workers (spawned processes, Ray, the CLI
    in a subprocess) inherit the endpoint and credentials from the environment."""
    import s3fs

    for name in UNSET:
        monkeypatch.delenv(name, raising=False)
    for name, value in {**ENV, "AWS_ENDPOINT_URL": s3_server}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("AWS_CONFIG_FILE", "/dev/null")
    monkeypatch.setenv("AWS_SHARED_CREDENTIALS_FILE", "/dev/null")
    s3fs.S3FileSystem.clear_instance_cache()  # an instance made under other settings
    bucket = f"test-{uuid.uuid4().hex[:12]}"
    s3fs.S3FileSystem().mkdir(bucket)
    yield f"s3://{bucket}"
    s3fs.S3FileSystem.clear_instance_cache()
