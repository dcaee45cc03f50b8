"""Paillier cryptography for PySonar: keys, fixed-point encoding, encrypted vectors, obfuscation."""
