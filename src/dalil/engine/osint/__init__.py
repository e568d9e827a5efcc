"""Online sources: web and onion captures (WARC), entities in captured pages, correlation."""
