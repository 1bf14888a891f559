import pytest


@pytest.fixture
def anyio_backend() -> str:
    # The SDK and our code run on asyncio; trio is not a supported runtime.
    return "asyncio"


@pytest.fixture(autouse=True, scope="session")
def _private_spec_cache(tmp_path_factory: pytest.TempPathFactory) -> None:
    # Tests load many spec folders; keep their cache entries out of the developer's home.
    import os

    os.environ.setdefault("QDI_MCP_CACHE_DIR", str(tmp_path_factory.mktemp("spec-cache")))
