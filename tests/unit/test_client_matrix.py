"""tests/clients/matrix.json is well formed: every row has every feature, names an existing
test file, and each "yes" is one the scenario checker can verify."""

from __future__ import annotations

from pathlib import Path

from helpers.client_scenario import FEATURES, load_matrix

REPO = Path(__file__).resolve().parents[2]


def test_matrix_rows_cover_every_feature() -> None:
    matrix = load_matrix()
    assert tuple(matrix["features"]) == FEATURES
    assert matrix["clients"]
    for client, row in matrix["clients"].items():
        assert tuple(row["features"]) == FEATURES, client
        assert (REPO / row["test"]).is_file(), client
        assert client in (REPO / row["test"]).read_text(), f"{row['test']} never names {client}"
        assert all(isinstance(cell, str) and cell for cell in row["features"].values())
