"""cogdex plugin for Amazon S3: boto3 credentials and requester-pays buckets."""
