"""Identifiers: key material, daily salts, visitor hashes and account hashes."""
