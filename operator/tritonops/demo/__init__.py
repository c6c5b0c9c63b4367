"""`make demo` (python -m tritonops.demo): a canary release on one machine; see scenario.py."""
