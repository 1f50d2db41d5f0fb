"""The OpenAPI document: quart-schema's, completed with what the models cannot say.

quart-schema documents the success bodies from the pydantic models. This adds the
error responses (docs/protocol.md §7) as ``application/problem+json`` (the media type the
gateway really sends), the ``ApiKey`` security requirement of each key-protected
route, the Prometheus text body of ``/metrics``, and the payload viewers receive over
the WebSocket (``x-websocket-messages``: OpenAPI has no WebSocket operations), so that
a client generator or a fuzzer knows the whole contract.
"""

from __future__ import annotations

from typing import Any

from quart_schema import OpenAPIProvider

from ..schemas import PaymentDataPayload, Problem

PROBLEM_JSON = "application/problem+json"

_DESCRIPTIONS = {
    400: "Body is not I-JSON (a member named twice, bad UTF-8, NaN), or a malformed "
    "Idempotency-Key",
    401: "Missing or unknown API key, or an invalid session token",
    403: "Scope missing, Origin not allowed, or the session belongs to another key",
    404: "The session (or path) is unknown",
    409: "Idempotency-Key reused with another body",
    410: "The session expired",
    413: "Body larger than payload.max_body_bytes",
    415: "Content-Type is not application/json",
    422: "Schema violation; errors names each bad field",
    429: "Rate limit hit; see Retry-After, RateLimit-Policy and RateLimit",
    503: "The broker is unreachable, or did not confirm a publish in time (outcome "
    "unknown: retry with the same Idempotency-Key)",
}
_BODY = (400, 413, 415, 422)
#: (method, path) → (error statuses, needs an API key)
ROUTES: dict[tuple[str, str], tuple[tuple[int, ...], bool]] = {
    ("post", "/api/token/generate"): ((*_BODY, 401, 403, 429, 503), True),
    ("post", "/api/payment"): ((*_BODY, 401, 403, 404, 409, 410, 429, 503), True),
    ("post", "/api/payment/clear"): ((*_BODY, 401, 403, 404, 409, 410, 429, 503), True),
    ("get", "/api/session/{token}"): ((401, 404, 410, 503), False),
    ("get", "/api/session"): ((401, 404, 410, 503), False),
    ("get", "/api/stats"): ((401, 403, 503), True),
    ("get", "/metrics"): ((401, 403, 404), True),
}


class GatewayOpenAPIProvider(OpenAPIProvider):
    def schema(self) -> dict[str, Any]:
        doc = super().schema()
        schemas = doc.setdefault("components", {}).setdefault("schemas", {})
        for model in (Problem, PaymentDataPayload):
            schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
            schemas.update(schema.pop("$defs", {}))
            schemas[model.__name__] = schema
        doc["x-websocket-messages"] = {
            "PAYMENT_DATA": {
                "description": "sent to every viewer on each publish, and on joining a "
                "session that holds data: {type, ts, payload}",
                "payload": {"$ref": "#/components/schemas/PaymentDataPayload"},
            }
        }
        problem_body = {PROBLEM_JSON: {"schema": {"$ref": "#/components/schemas/Problem"}}}
        for path, operations in doc.get("paths", {}).items():
            for method, operation in operations.items():
                statuses, keyed = ROUTES.get((method, path), ((), False))
                # quart-schema keys responses by int; JSON wants one key type to sort.
                responses = {str(k): v for k, v in operation.get("responses", {}).items()}
                operation["responses"] = responses
                for key, response in responses.items():
                    # /health's 503 is its own JSON body, not a problem.
                    if statuses and key >= "400" and "content" in response:
                        response["content"] = {
                            PROBLEM_JSON: next(iter(response["content"].values()))
                        }
                for status in statuses:
                    responses[str(status)] = {
                        "description": _DESCRIPTIONS[status],
                        "content": problem_body,
                    }
                if keyed:
                    operation["security"] = [{"ApiKey": []}]
        metrics = doc.get("paths", {}).get("/metrics", {}).get("get")
        if metrics is not None:
            metrics["responses"]["200"] = {
                "description": "Prometheus text exposition format",
                "content": {"text/plain": {"schema": {"type": "string"}}},
            }
        return doc
