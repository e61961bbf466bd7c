"""Calling an app in process."""

from __future__ import annotations

import httpx
from fastapi import FastAPI


def asgi_client(app: FastAPI, base_url: str = "http://t") -> httpx.AsyncClient:
    """An httpx client calling `app` in process (use as `async with`)."""
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url=base_url)
