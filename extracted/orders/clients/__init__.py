"""The orders service's clients of its upstreams (inventory, payments): timeouts on every call,
jittered retries for idempotent calls only, a circuit breaker per upstream, request id and
``traceparent`` on every call."""
