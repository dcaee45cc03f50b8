"""The linear model: plain regression, encrypted model and gradient, aggregation, error scale."""
