"""Shared algorithms both sides of sync must compute identically: reconciliation's canonical row
text, hashes and checksum queries, and the COPY text codec of backfill pages. Beside the wire
formats (``contracts``) it depends on nothing of ours."""
