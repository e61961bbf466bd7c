"""Redis: the band store (maps, books, history, worker status), its connection and leases."""

from execsvc.store.band_store import (
    BandStore,
    LastPrice,
    MapFreshness,
    StoredMap,
    StoreUnavailable,
)

__all__ = ["BandStore", "LastPrice", "MapFreshness", "StoreUnavailable", "StoredMap"]
