"""Helpers the tests share: servers they start (Redis, uvicorn, the Binance stub) and paths."""

from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
"""The repository root."""
