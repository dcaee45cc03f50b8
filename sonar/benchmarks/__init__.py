"""Benchmarks of the Sonar contract: targets that print tables, not timed tests."""
