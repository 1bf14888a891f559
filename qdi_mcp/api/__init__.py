"""Typed async client for the Qlik Cloud Data Integration projects API.

Layering: this package knows httpx and pydantic only; it must not import mcp, the tools or the emulator.

Names load on first use (`from qdi_mcp.api import QlikClient` works as usual): a server start that only
validates the tenant URL (`qdi_mcp.api.tenant`) must not pay for httpx and the API models, which only the
first tool call needs.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from .auth import ApiKeyAuth, Auth, AuthContext, OAuthClientCredentials
    from .client import USER_AGENT, QlikClient
    from .endpoints import ENDPOINTS, Endpoint
    from .errors import (
        ApiStatusError,
        AuthError,
        BadRequestError,
        ConflictError,
        InvalidParameterError,
        NotFoundError,
        OutcomeUnknownError,
        QdiApiError,
        RateLimitedError,
        ResponseFormatError,
        ResponseTooLargeError,
        ServerError,
        TransportError,
    )
    from .models import (
        Action,
        ActionError,
        ActionRef,
        ActionTaskDetail,
        Bindings,
        CdcStatusSummary,
        CreateProjectRequest,
        DatasetCdcStatus,
        DatasetFullLoad,
        DatasetLastBatchOfChanges,
        DatasetState,
        DatasetStreaming,
        DataTask,
        ErrorItem,
        ErrorSource,
        FileStats,
        FullLoadSummary,
        LastBatchOfChangesSummary,
        LastRun,
        OperationStats,
        Project,
        ReloadResult,
        RunGeneral,
        RunReadiness,
        StreamingSummary,
        TaskProgress,
        TaskRuntimeState,
    )
    from .ratelimit import RateTier, TierLimiter
    from .retry import RetryPolicy
    from .session import Timeouts
    from .tenant import InvalidTenantUrl, validate_tenant_url

__all__ = [
    # client and its options
    "QlikClient",
    "USER_AGENT",
    "Timeouts",
    "RetryPolicy",
    "TierLimiter",
    "RateTier",
    "ENDPOINTS",
    "Endpoint",
    "validate_tenant_url",
    "InvalidTenantUrl",
    # auth
    "Auth",
    "AuthContext",
    "ApiKeyAuth",
    "OAuthClientCredentials",
    # errors
    "QdiApiError",
    "ApiStatusError",
    "BadRequestError",
    "AuthError",
    "NotFoundError",
    "ConflictError",
    "RateLimitedError",
    "ServerError",
    "TransportError",
    "OutcomeUnknownError",
    "InvalidParameterError",
    "ResponseFormatError",
    "ResponseTooLargeError",
    # models
    "Project",
    "CreateProjectRequest",
    "DataTask",
    "ActionRef",
    "ReloadResult",
    "Bindings",
    "Action",
    "ActionError",
    "ActionTaskDetail",
    "TaskProgress",
    "TaskRuntimeState",
    "LastRun",
    "RunGeneral",
    "FullLoadSummary",
    "CdcStatusSummary",
    "StreamingSummary",
    "LastBatchOfChangesSummary",
    "RunReadiness",
    "DatasetState",
    "DatasetFullLoad",
    "DatasetCdcStatus",
    "DatasetStreaming",
    "DatasetLastBatchOfChanges",
    "FileStats",
    "OperationStats",
    "ErrorItem",
    "ErrorSource",
]

_HOMES: dict[str, str] = {
    "ApiKeyAuth": "auth",
    "Auth": "auth",
    "AuthContext": "auth",
    "OAuthClientCredentials": "auth",
    "USER_AGENT": "client",
    "QlikClient": "client",
    "ENDPOINTS": "endpoints",
    "Endpoint": "endpoints",
    "ApiStatusError": "errors",
    "AuthError": "errors",
    "BadRequestError": "errors",
    "ConflictError": "errors",
    "InvalidParameterError": "errors",
    "NotFoundError": "errors",
    "OutcomeUnknownError": "errors",
    "QdiApiError": "errors",
    "RateLimitedError": "errors",
    "ResponseFormatError": "errors",
    "ResponseTooLargeError": "errors",
    "ServerError": "errors",
    "TransportError": "errors",
    "Action": "models",
    "ActionError": "models",
    "ActionRef": "models",
    "ActionTaskDetail": "models",
    "Bindings": "models",
    "CdcStatusSummary": "models",
    "CreateProjectRequest": "models",
    "DatasetCdcStatus": "models",
    "DatasetFullLoad": "models",
    "DatasetLastBatchOfChanges": "models",
    "DatasetState": "models",
    "DatasetStreaming": "models",
    "DataTask": "models",
    "ErrorItem": "models",
    "ErrorSource": "models",
    "FileStats": "models",
    "FullLoadSummary": "models",
    "LastBatchOfChangesSummary": "models",
    "LastRun": "models",
    "OperationStats": "models",
    "Project": "models",
    "ReloadResult": "models",
    "RunGeneral": "models",
    "RunReadiness": "models",
    "StreamingSummary": "models",
    "TaskProgress": "models",
    "TaskRuntimeState": "models",
    "RateTier": "ratelimit",
    "TierLimiter": "ratelimit",
    "RetryPolicy": "retry",
    "Timeouts": "session",
    "InvalidTenantUrl": "tenant",
    "validate_tenant_url": "tenant",
}


def __getattr__(name: str) -> Any:
    home = _HOMES.get(name)
    if home is None:
        raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value
