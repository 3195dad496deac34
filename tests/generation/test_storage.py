"""Storage: fixed keys that a rerun overwrites, signed expiring URLs; local folder and S3 (moto)."""

import time
from urllib.parse import parse_qs, urlparse

import boto3
import httpx
import pytest

from generation.services.storage import (
    image_key,
    signed_url,
    storage,
    storage_delete,
    storage_read,
    storage_write,
)

KEY = image_key(generation_id="5b7f0c3a-0000-4000-8000-000000000001", index=0)


def test_keys_are_fixed_per_generation_and_index():
    assert KEY == "generations/5b7f0c3a-0000-4000-8000-000000000001/0.png"


def test_local_rerun_overwrites_rather_than_duplicates(settings):
    storage_write(key=KEY, content=b"first")
    storage_write(key=KEY, content=b"second")
    assert storage_read(key=KEY) == b"second"
    assert storage().listdir("generations/5b7f0c3a-0000-4000-8000-000000000001")[1] == ["0.png"]
    storage_delete(key=KEY)
    assert not storage().exists(KEY)


def test_local_signed_url_serves_until_it_expires(client, settings):
    storage_write(key=KEY, content=b"\x89PNG image")
    url = signed_url(key=KEY)
    path = urlparse(url).path
    assert path.startswith("/api/v1/media/")
    response = client.get(path)
    assert response.status_code == 200 and b"".join(response.streaming_content) == b"\x89PNG image"

    assert client.get(path[:-3] + "xyz").status_code == 404  # tampered
    expired = urlparse(signed_url(key=KEY, expires_in=1)).path
    time.sleep(2.1)
    assert client.get(expired).status_code == 404


def test_local_signed_url_of_a_deleted_file_is_gone(client):
    storage_write(key=KEY, content=b"x")
    path = urlparse(signed_url(key=KEY)).path
    storage_delete(key=KEY)
    assert client.get(path).status_code == 404


@pytest.fixture
def s3(settings):  # type: ignore[no-untyped-def]
    """moto's S3 server on loopback, a bucket, and django-storages' S3Storage pointed at it."""
    from moto.server import ThreadedMotoServer

    server = ThreadedMotoServer(ip_address="127.0.0.1", port=0)
    server.start()
    host, port = server.get_host_and_port()
    endpoint = f"http://{host}:{port}"
    credentials = {"aws_access_key_id": "testing", "aws_secret_access_key": "testing"}
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1", **credentials).create_bucket(
        Bucket="easel-images"
    )
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {
            "BACKEND": "storages.backends.s3.S3Storage",
            "OPTIONS": {
                "bucket_name": "easel-images",
                "endpoint_url": endpoint,
                "access_key": "testing",
                "secret_key": "testing",
                "region_name": "us-east-1",
                "addressing_style": "path",
                "default_acl": None,
                "querystring_auth": True,
                "signature_version": settings.AWS_S3_SIGNATURE_VERSION,
            },
        },
    }
    yield endpoint
    server.stop()


def test_s3_rerun_overwrites_and_presigned_url_expires_in_an_hour(s3):
    storage_write(key=KEY, content=b"first")
    storage_write(key=KEY, content=b"second")
    assert storage_read(key=KEY) == b"second"
    assert storage().listdir("generations/5b7f0c3a-0000-4000-8000-000000000001/")[1] == ["0.png"]

    url = signed_url(key=KEY)
    query = parse_qs(urlparse(url).query)
    assert query["X-Amz-Expires"] == ["3600"]
    served = httpx.get(url)
    assert served.content == b"second"
    # S3 itself says how long a copy may be cached: a take-down reaches it within that.
    assert served.headers["cache-control"] == "private, max-age=300"
    # The bucket is private: without the signature, nothing.
    assert httpx.get(url.split("?")[0]).status_code == 403

    storage_delete(key=KEY)
    assert httpx.get(signed_url(key=KEY)).status_code == 404
