"""Typed async client for the Qlik Cloud Data Integration projects API.

Layering: this package knows httpx and pydantic only; it must not import mcp, the tools or the emulator.

Importing it loads httpx and the API models, so nothing a start needs imports it: a server that only lists tools
reaches the client through the server's one deferred import (`qdi_mcp.server.loaded`) at the first tool call, and
the tenant URL is checked by `qdi_mcp.settings.tenant_url`.
"""

from __future__ import annotations

# Tenant URL checks are configuration: they live in settings, which a start can load without httpx or pydantic.
from qdi_mcp.settings.tenant_url import InvalidTenantUrl, validate_tenant_url

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
from .traces import ChangeTraces, recording_changes

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
    "ChangeTraces",
    "recording_changes",
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
