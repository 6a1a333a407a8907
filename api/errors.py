"""Every failure becomes a JSON 4xx/5xx naming the field and the reason — never a stack trace.

Status codes (documented in docs/api.md):

- **400** ``malformed_request``: the body is not JSON (or not UTF-8);
- **404** ``not_found``: unknown route, client id or feature;
- **405** ``method_not_allowed``;
- **413** ``body_too_large``: the body exceeds the configured limit;
- **422** ``validation_error``: well-formed JSON or parameters that break the schema (wrong
  type, out of bounds, unknown level, unknown field, missing required field), or a value the
  feature code refuses; ``errors`` lists ``{field, reason, source}``;
- **500** ``internal_error``: logged with its traceback and the request id; the client gets
  the request id only;
- **503** ``not_ready``: the model is not loaded (only during start-up/shutdown).

Bodies are decoded by msgspec in strict mode, which reports the first problem it meets as
"Expected `float` <= 1.0 - at `$.application.EXT_SOURCE_2`"; :func:`decode_body` turns that
into ``field="application.EXT_SOURCE_2"`` and a readable reason (enum errors list the allowed
levels).
"""

from __future__ import annotations

import logging
import re
from collections.abc import Callable
from typing import Any, Literal, TypeVar

import msgspec
from litestar import Request, Response
from litestar.exceptions import HTTPException, NotFoundException, ValidationException

from api.schemas import ErrorBody, FieldError, level_hint

log = logging.getLogger(__name__)
T = TypeVar("T")
Source = Literal["body", "query", "path", "header"]

ERROR_CODES: dict[int, str] = {
    400: "malformed_request",
    404: "not_found",
    405: "method_not_allowed",
    413: "body_too_large",
    422: "validation_error",
    500: "internal_error",
    503: "not_ready",
}
_AT = re.compile(r"^(?P<msg>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.S)
_UNKNOWN = re.compile(r"Object contains unknown field `(?P<name>[^`]+)`")
_MISSING = re.compile(r"Object missing required field `(?P<name>[^`]+)`")
_ENUM = re.compile(r"Invalid enum value (?P<value>.+)")


class ApiError(Exception):
    """A client error with its status, stable code, sentence and faulty fields."""

    def __init__(
        self, status_code: int, detail: str, errors: list[FieldError] | None = None
    ) -> None:
        super().__init__(detail)
        self.status_code = status_code
        self.detail = detail
        self.errors = errors or []

    @property
    def code(self) -> str:
        return ERROR_CODES.get(self.status_code, "error")


def invalid(field: str, reason: str, source: Source = "body") -> ApiError:
    """A 422 for one field."""
    return ApiError(
        422, f"{field}: {reason}", [FieldError(field=field, reason=reason, source=source)]
    )


def not_found(detail: str, field: str | None = None, source: Source = "path") -> ApiError:
    errors = [FieldError(field=field, reason=detail, source=source)] if field else []
    return ApiError(404, detail, errors)


def _dotted(path: str) -> str:
    """``.application.history[2].X`` → ``application.history[2].X``."""
    return path.lstrip(".")


def validation_field_error(exc: msgspec.ValidationError) -> FieldError:
    """Field path and readable reason of msgspec's (single) validation error."""
    m = _AT.match(str(exc))
    msg = m.group("msg") if m else str(exc)
    where = _dotted(m.group("path") or "") if m else ""
    if u := _UNKNOWN.match(msg):
        field = f"{where}.{u['name']}" if where else u["name"]
        return FieldError(field=field, reason="unknown field (not a Kaggle column)", source="body")
    if r := _MISSING.match(msg):
        field = f"{where}.{r['name']}" if where else r["name"]
        return FieldError(field=field, reason="required field is missing", source="body")
    if e := _ENUM.match(msg):
        levels = level_hint(tuple(p for p in re.split(r"[.\[\]]+", where) if p))
        allowed = f"; allowed: {', '.join(levels)}" if levels else ""
        return FieldError(field=where, reason=f"unknown level {e['value']}{allowed}", source="body")
    return FieldError(field=where or "(body)", reason=msg, source="body")


def decode_body(body: bytes, decoder: msgspec.json.Decoder[T]) -> T:
    """Decode a request body strictly; 400 if not JSON, 422 naming the field otherwise."""
    if not body:
        raise ApiError(400, "the request body is empty; send a JSON object")
    try:
        return decoder.decode(body)
    except msgspec.ValidationError as exc:
        err = validation_field_error(exc)
        raise ApiError(422, f"{err.field}: {err.reason}", [err]) from None
    except msgspec.DecodeError as exc:
        raise ApiError(400, f"the request body is not valid JSON ({exc})") from None


def _litestar_validation(exc: ValidationException) -> ApiError:
    """Litestar's parameter errors (query/path/header) → our 422 shape."""
    errors: list[FieldError] = []
    extra: Any = exc.extra
    for item in extra if isinstance(extra, list) else []:
        if not isinstance(item, dict):
            continue
        source = item.get("source")
        errors.append(
            FieldError(
                field=str(item.get("key") or "(request)"),
                reason=str(item.get("message") or "invalid value"),
                source=source if source in ("body", "query", "path", "header") else "query",
            )
        )
    if not errors:
        errors.append(FieldError(field="(request)", reason=str(exc.detail), source="query"))
    first = errors[0]
    return ApiError(422, f"{first.field}: {first.reason}", errors)


def error_response(request: Request[Any, Any, Any], err: ApiError) -> Response[ErrorBody]:
    rid = request.scope.get("request_id")
    body = ErrorBody(
        status_code=err.status_code,
        error=err.code,
        detail=err.detail,
        errors=err.errors,
        request_id=rid if isinstance(rid, str) else None,
    )
    return Response(body, status_code=err.status_code)


ErrorHook = Callable[[Request[Any, Any, Any], ApiError], None]


def exception_handlers(on_error: ErrorHook) -> dict[Any, Any]:
    """Litestar exception handlers mapping every exception to :class:`ErrorBody`.

    ``on_error`` runs for each error answered (the app records failed scores as events).
    """

    def handle(request: Request[Any, Any, Any], exc: Exception) -> Response[ErrorBody]:
        if isinstance(exc, ApiError):
            err = exc
        elif isinstance(exc, ValidationException):
            err = _litestar_validation(exc)
        elif isinstance(exc, NotFoundException):
            err = ApiError(404, f"no route {request.method} {request.url.path}")
        elif isinstance(exc, HTTPException):
            status = exc.status_code
            if status == 413:
                err = ApiError(413, "the request body is larger than this endpoint accepts")
            elif status == 405:
                err = ApiError(405, f"method {request.method} not allowed on {request.url.path}")
            elif status == 400:
                err = ApiError(400, str(exc.detail) or "malformed request")
            else:
                err = ApiError(status, str(exc.detail) or "request failed")
        else:
            rid = request.scope.get("request_id")
            log.exception(
                "unhandled error on %s %s",
                request.method,
                request.url.path,
                extra={"request_id": rid},
            )
            err = ApiError(500, "internal error; quote the request id to the operators")
        try:
            on_error(request, err)
        except Exception:  # the answer must go out even if recording the error fails
            log.exception("error hook failed")
        return error_response(request, err)

    return {Exception: handle}
