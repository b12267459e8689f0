"""cogdex plugin for NASA Earthdata: bearer tokens for DAAC HTTPS assets, S3 keys in-region."""
