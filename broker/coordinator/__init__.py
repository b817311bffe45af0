"""Coordinator runtime shared by the group and transaction coordinators."""
