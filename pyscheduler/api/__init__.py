"""Thin async layer over kubernetes-asyncio: raw JSON requests, list and watch, typed errors.

Import the submodules (api.client, api.listwatch, api.errors, ...) directly: this package
re-exports nothing, so that reading a snapshot offline, which needs only api.listwatch's
resource names and api.types, never loads the Kubernetes client library.
"""
