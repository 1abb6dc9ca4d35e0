"""Compact typed objects decoded from API JSON (partial msgspec schemas) and their helpers."""
