"""Durable ingest: the journal behind every 202, the journal process and its link, the DuckDB loader."""
