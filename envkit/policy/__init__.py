"""envkit's policy pack (rules) and the offline gate that evaluates it."""
