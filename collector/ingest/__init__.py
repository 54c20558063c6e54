"""Ingestion: from one request's headers and body to events that are accepted, dropped or refused."""
