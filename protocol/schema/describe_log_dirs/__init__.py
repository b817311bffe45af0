"""DescribeLogDirs (API key 35)."""
