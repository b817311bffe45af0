"""Coordinator runtime shared by the group and (later) transaction coordinators."""
