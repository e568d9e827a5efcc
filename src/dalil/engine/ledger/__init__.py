"""Blockchain ingestion, address clustering and onion services (no Django, no database)."""
