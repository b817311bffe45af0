"""DeleteAcls (API key 31)."""
