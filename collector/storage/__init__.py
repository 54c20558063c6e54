"""The DuckDB file: opened encrypted, migrated at start-up, written in Arrow batches."""
