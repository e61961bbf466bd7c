from execsvc.store.band_store import BandStore, StoredMap, StoreUnavailable

__all__ = ["BandStore", "StoreUnavailable", "StoredMap"]
