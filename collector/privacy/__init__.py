"""Visitors' rights: erasure, export, retention, and third-party detection from CSP reports."""
