"""Bitcoin: blocks and transactions, scripts, addresses."""
