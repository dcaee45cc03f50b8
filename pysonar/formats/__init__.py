"""The IPFS objects' formats: the JSON codec of models and gradients, and strict JSON parsing."""
