"""Execution advice as pure functions over order books and liquidation maps (no I/O)."""

from execsvc.execution.book_walk import BookWalk, cost_curve, walk_book

__all__ = ["BookWalk", "cost_curve", "walk_book"]
