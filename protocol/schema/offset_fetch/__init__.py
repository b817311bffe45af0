"""OffsetFetch (API key 9)."""
