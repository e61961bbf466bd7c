"""Paper trading: an event-sourced account (pure engine and ledger), its Redis journal, the
async broker per account (`service`), the accounts of all keys (`accounts`) and the
`OrderVenue` over them (`venue`)."""
