"""cogdex plugin for Amazon S3: the boto3 credential chain and requester-pays buckets."""
