"""CreateAcls (API key 30)."""
