"""DeleteTopics (API key 20)."""
