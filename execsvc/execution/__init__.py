"""Execution advice as pure functions over order books and liquidation maps (no I/O)."""
