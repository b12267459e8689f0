"""Real servers for the tests, one module each; the fixtures in tests/conftest.py start them.

scenes: synthetic COGs and STAC files; http_range: nginx or a Python Range server (and a
200-only variant); faults: a Range server that fails on request; s3: moto; azurite: Azure
Blob; stac_api: stac-fastapi-geoparquet. process: subprocess lifetime and readiness.
"""
