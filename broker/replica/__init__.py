"""Replica side: partitions hosted here, the replica manager, purgatories, fetch sessions."""
