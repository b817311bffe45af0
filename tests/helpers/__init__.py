"""Test helpers: a real broker process fixture, client helpers and raw-socket protocol bits."""
