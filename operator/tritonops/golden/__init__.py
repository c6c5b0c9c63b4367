"""Golden sets: inputs with the outputs a known-good model gives for them, and their comparison (pure)."""
