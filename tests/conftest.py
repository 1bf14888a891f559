import pytest


@pytest.fixture
def anyio_backend() -> str:
    # The SDK and our code run on asyncio; trio is not a supported runtime.
    return "asyncio"
