"""Paper trading: an event-sourced account (pure engine), its Redis journal and the async
broker the order endpoints call."""

from execsvc.venues.paper.accounts import PaperAccounts
from execsvc.venues.paper.engine import (
    Decision,
    Fees,
    decide_cancel,
    decide_on_price,
    decide_submit,
    open_account,
)
from execsvc.venues.paper.journal import JournalConflict, PaperJournal
from execsvc.venues.paper.ledger import EVENT_TYPES, apply, fold
from execsvc.venues.paper.service import (
    MarkedPosition,
    PaperBroker,
    PaperUnavailable,
    band_store_books,
)
from execsvc.venues.paper.state import PaperState

__all__ = [
    "EVENT_TYPES",
    "Decision",
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
    "fold",
    "open_account",
]
