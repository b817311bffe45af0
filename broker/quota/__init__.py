"""Client quotas (KIP-13, KIP-55, KIP-124, KIP-257): produce and fetch byte rates and
request percentages per user, client id and (user, client id), with throttling."""
