"""Pure-Python engines: no Django, no database. Paths, bytes and typed records in and out."""
