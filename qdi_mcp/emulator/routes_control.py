"""Routes outside the DI projects API: `POST /oauth/token`, and the `/_emulator/` control surface
(snapshot, counters, faults, manual clock) for an emulator served over HTTP. Control routes need the same
bearer token as the API."""

from __future__ import annotations

from typing import Any

from starlette.requests import Request
from starlette.responses import JSONResponse, Response

from qdi_mcp.clock import ManualClock

from .errors import ApiError, bad_request
from .inputs import emulator_of, json_object
from .qlik_time import iso_time


async def oauth_token(request: Request) -> Response:
    emulator = emulator_of(request)
    content_type = request.headers.get("content-type", "")
    if content_type.startswith("application/x-www-form-urlencoded"):
        async with request.form() as form:
            body: dict[str, Any] = {key: value for key, value in form.items() if isinstance(value, str)}
    else:
        body = await json_object(request)
    grant_type = body.get("grant_type")
    if grant_type != "client_credentials":
        raise bad_request(
            f"Unsupported grant_type {grant_type!r}: only 'client_credentials' is supported.",
            pointer="/grant_type",
        )
    client_id, client_secret = body.get("client_id"), body.get("client_secret")
    if not isinstance(client_id, str) or not client_id or not isinstance(client_secret, str):
        raise bad_request("'client_id' and 'client_secret' are required strings.", pointer="/client_id")
    now = emulator.tenant.now()
    token = emulator.auth.issue_token(client_id, client_secret, now)
    if token is None:
        raise ApiError(401, "Invalid client credentials: unknown client_id or wrong client_secret.")
    return JSONResponse(
        {
            "access_token": token,
            "token_type": "bearer",
            "expires_in": int(emulator.auth.token_lifetime),
            "scope": body.get("scope") or "user_default",
        },
        headers={"Cache-Control": "no-store"},
    )


async def snapshot(request: Request) -> Response:
    return JSONResponse(emulator_of(request).snapshot())


async def counters(request: Request) -> Response:
    emulator = emulator_of(request)
    return JSONResponse(
        {
            "counters": dict(emulator.counters),
            "requests": dict(emulator.requests),
            "responses": dict(emulator.responses),
            # Per rate tier, what the tenant admitted and refused (all zero while rate limits are off).
            "rate": emulator.limiter.stats(),
        }
    )


async def list_faults(request: Request) -> Response:
    return JSONResponse({"faults": [fault.to_dict() for fault in emulator_of(request).faults.pending]})


async def inject_fault(request: Request) -> Response:
    body = await json_object(request)
    target, kind = body.get("target"), body.get("kind")
    if not isinstance(target, str) or not isinstance(kind, str):
        raise bad_request("'target' (operation or 'METHOD /path-glob') and 'kind' are required strings.")
    try:
        fault = emulator_of(request).faults.inject(
            target,
            kind,
            times=body.get("times", 1),
            status=body.get("status"),
            retry_after=body.get("retryAfter"),
            delay=float(body.get("delay", 0.0)),
            after_execution=bool(body.get("afterExecution", False)),
        )
    except (ValueError, TypeError) as exc:
        raise bad_request(f"Cannot inject this fault: {exc}.") from None
    return JSONResponse(fault.to_dict(), status_code=201)


async def clear_faults(request: Request) -> Response:
    emulator_of(request).faults.clear()
    return Response(status_code=204)


async def set_dataset_broken(request: Request) -> Response:
    """Break (or repair, with `"broken": false`) a dataset's source, so runs of its task fail: for rehearsing a
    failed run against the served emulator. Body: projectId, taskId, dataset (name or id), broken, message."""
    body = await json_object(request)
    names = ("projectId", "taskId", "dataset")
    if not all(isinstance(body.get(name), str) for name in names):
        raise bad_request("'projectId', 'taskId' and 'dataset' (a dataset name or id) are required strings.")
    broken = body.get("broken", True)
    message = body.get("message")
    if not isinstance(broken, bool) or (message is not None and not isinstance(message, str)):
        raise bad_request("'broken' must be true or false and 'message' a string.")
    try:
        emulator_of(request).set_dataset_broken(
            body["projectId"], body["taskId"], body["dataset"], broken=broken, message=message
        )
    except ValueError as exc:
        raise bad_request(str(exc)) from None
    return Response(status_code=204)


async def advance_clock(request: Request) -> Response:
    emulator = emulator_of(request)
    if not isinstance(emulator.clock, ManualClock):
        raise bad_request("This emulator runs on a real-time clock; only a manual clock can be advanced.")
    seconds = (await json_object(request)).get("seconds")
    if not isinstance(seconds, int | float) or isinstance(seconds, bool) or seconds < 0:
        raise bad_request("'seconds' must be a non-negative number.", pointer="/seconds")
    emulator.clock.advance(float(seconds))
    emulator.tenant.sync()
    return JSONResponse({"now": iso_time(emulator.clock.now())})


async def trigger_scheduled_run(request: Request) -> Response:
    """What a task's schedule does when it fires (the emulator has no scheduler): start the task when it can
    run, else record a MISFIRED run. Body: projectId, taskId. Answers the run's runId and status."""
    body = await json_object(request)
    if not all(isinstance(body.get(name), str) for name in ("projectId", "taskId")):
        raise bad_request("'projectId' and 'taskId' are required strings.")
    run = emulator_of(request).trigger_scheduled_run(body["projectId"], body["taskId"])
    return JSONResponse({"runId": run.run_id, "status": run.state}, status_code=201)
