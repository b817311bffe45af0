"""DescribeAcls (API key 29)."""
