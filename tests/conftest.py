import logging
from collections.abc import Iterator

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


@pytest.fixture
def restore_logging() -> Iterator[None]:
    """`qdi_mcp.cli.main()` installs its own stderr handler on the root logger; put pytest's back afterwards."""
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    try:
        yield
    finally:
        root.handlers[:] = handlers
        root.setLevel(level)
