"""Network layer: listeners, connections, request dispatch and per-request context."""
