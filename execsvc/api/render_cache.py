"""`RenderCache`: the app's most recently rendered charts, by map version, size and options."""

from __future__ import annotations

from collections import OrderedDict

RENDER_CACHE_SIZE = 64


class RenderCache:
    """The app's most recently rendered heatmaps, by map version, size and options: every
    viewer of one map at one size costs a single render (the history changes at most once per
    map version)."""

    def __init__(self, size: int = RENDER_CACHE_SIZE) -> None:
        self.size = size
        self._items: OrderedDict[tuple, str] = OrderedDict()

    def get(self, key: tuple) -> str | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def put(self, key: tuple, value: str) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)

    def __len__(self) -> int:
        return len(self._items)
