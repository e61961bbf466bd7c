"""Paper trading: an event-sourced account (pure engine), its Redis journal and the async
broker the order endpoints call."""

from execsvc.paper.accounts import PaperAccounts
from execsvc.paper.book import Book
from execsvc.paper.engine import (
    Decision,
    Fees,
    decide_cancel,
    decide_on_price,
    decide_submit,
    open_account,
)
from execsvc.paper.journal import JournalConflict, PaperJournal
from execsvc.paper.ledger import EVENT_TYPES, apply, fold
from execsvc.paper.service import (
    DuplicateClientOrderId,
    MarkedPosition,
    PaperBroker,
    PaperUnavailable,
    band_store_books,
    default_brackets,
)
from execsvc.paper.state import PaperState

__all__ = [
    "EVENT_TYPES",
    "Book",
    "Decision",
    "DuplicateClientOrderId",
    "Fees",
    "JournalConflict",
    "MarkedPosition",
    "PaperAccounts",
    "PaperBroker",
    "PaperJournal",
    "PaperState",
    "PaperUnavailable",
    "apply",
    "band_store_books",
    "decide_cancel",
    "decide_on_price",
    "decide_submit",
    "default_brackets",
    "fold",
    "open_account",
]
