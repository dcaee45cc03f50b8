"""Pants backend for Solidity: `solidity_source(s)` targets compiled into JSON artifacts."""
