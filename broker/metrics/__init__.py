"""Metrics: hot-path counters (``stats``) and the Prometheus collectors that read them."""
