"""Segments for personalization: definitions, their materialization, the index and its API."""
