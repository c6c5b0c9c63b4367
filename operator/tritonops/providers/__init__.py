"""Metric providers: where an analysis window's measurements come from (triton or prometheus)."""
