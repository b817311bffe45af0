"""Broker configuration: the key table, properties parsing and the typed BrokerConfig."""
