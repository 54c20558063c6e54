"""Doors: the Plausible, Umami and Matomo tracking protocols, translated into the collector's own fields.

Each module is a pure translator from one product's payload to Hits (hits.py); the events they become
go through the same parser checks and the same pipeline as the snippet's (collector.ingest.accept).
"""
