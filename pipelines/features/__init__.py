"""The feature store: offline Parquet on S3 with point-in-time joins, an online DynamoDB store."""
