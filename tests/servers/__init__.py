"""Real servers for the tests, one module each; the fixtures in tests/conftest.py start them.

What a user of cogdex needs too lives in `cogdex.testing` (the Python Range server, the
COG writer, the demo's scenes); here only what the suite alone needs: scenes: the
GDAL-written synthetic COGs and STAC files of the fixtures; nginx; faults: a Range server
that fails on request; s3: moto; azurite: Azure Blob; stac_api: stac-fastapi-geoparquet;
tls: local certificates; background: the thread-served stand-ins; process: subprocess
lifetime and readiness.
"""
