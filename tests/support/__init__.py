"""Helpers the test suites share: real processes, real databases, free ports, awaited conditions."""
