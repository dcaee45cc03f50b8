"""Benchmarks run as programs (`./pants run pysonar/benchmarks:<name>`), never as timed tests."""
