"""Change sets, the only way curated data changes: parse, check, apply, revert and log."""
