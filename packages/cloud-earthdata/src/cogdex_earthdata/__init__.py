"""cogdex plugin for NASA Earthdata: bearer tokens for HTTPS assets."""
