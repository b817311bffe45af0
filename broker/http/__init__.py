"""The broker's HTTP listener (``josef.http.listeners``): health, readiness, metrics."""
