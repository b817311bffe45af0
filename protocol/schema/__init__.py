"""Schemas kio lacks, in kio's dataclass layout (see index.py)."""
