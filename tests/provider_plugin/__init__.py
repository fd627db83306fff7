"""A provider plugged in from the tests, without editing ``reconciler/``: the seam."""
