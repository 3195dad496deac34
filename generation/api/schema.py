"""Documents the error answers of the customer-facing operations in the OpenAPI schema.

Every error is `{"error": {"message", "type", "param", "code"}}` (common.api); rather than
repeat that on each of forty-odd views, this drf-spectacular post-processing hook adds the
statuses each operation can answer with to every path but the staff API's (settings: the
generation section of base.py registers it).
"""

import re
from typing import Any

CUSTOMER_PATHS = re.compile(r"^/(v1/|api/v1/(?!staff/|media/))")
_METHODS = {"get", "post", "put", "patch", "delete"}
_DESCRIPTIONS = {
    "400": "Invalid request, or blocked by the content policy (`code: content_policy_violation`)",
    "401": "Missing, malformed or unknown API key (`code: invalid_api_key`)",
    "403": "The key lacks a scope, or the account may not do this",
    "404": "No such object among yours",
    "409": "Idempotency-Key reused with another request, or still in use; or the object's state "
    "forbids it (an image under review, a collection name already used)",
    "415": "Unsupported body media type",
    "429": "Rate limit (`rate_limit_exceeded`, x-ratelimit-* headers) or no credits "
    "(`insufficient_quota`)",
    "500": "The generation failed (credits released)",
    "504": "Not ready within EASEL_API_WAIT_TIMEOUT; the job goes on",
}
ERROR_SCHEMA = {
    "type": "object",
    "required": ["error"],
    "properties": {
        "error": {
            "type": "object",
            "required": ["message", "type", "param", "code"],
            "properties": {
                "message": {"type": "string"},
                "type": {"type": "string"},
                "param": {"type": "string", "nullable": True},
                "code": {"type": "string", "nullable": True},
                # content_policy_violation only: the decision that blocked, and its appeal.
                "decision_id": {"type": "integer"},
                "appeal_url": {"type": "string", "format": "uri"},
            },
        }
    },
}


def _statuses(path: str, method: str, operation: dict[str, Any]) -> list[str]:
    statuses = ["400", "401", "403", "404", "429"]
    if method in {"post", "put", "patch"} and operation.get("requestBody"):
        statuses.append("415")
    parameters = operation.get("parameters", [])
    if any(parameter.get("name") == "Idempotency-Key" for parameter in parameters):
        statuses.append("409")
    elif path.endswith(("/share", "/appeal")) or path.startswith(
        ("/api/v1/collections", "/api/v1/appeals")
    ):
        statuses.append("409")  # sharing, collections and appeals services' conflicts
    if path.startswith("/v1/images/"):
        statuses += ["500", "504"]
    return statuses


def error_responses_document(
    result: dict[str, Any], generator: Any, request: Any, public: bool
) -> dict[str, Any]:
    schemas = result.setdefault("components", {}).setdefault("schemas", {})
    schemas["Error"] = ERROR_SCHEMA
    reference = {"application/json": {"schema": {"$ref": "#/components/schemas/Error"}}}
    for path, item in result.get("paths", {}).items():
        if not CUSTOMER_PATHS.match(path):
            continue
        for method, operation in item.items():
            if method not in _METHODS:
                continue
            responses = operation.setdefault("responses", {})
            for status in _statuses(path, method, operation):
                responses.setdefault(
                    status, {"description": _DESCRIPTIONS[status], "content": reference}
                )
    return result
