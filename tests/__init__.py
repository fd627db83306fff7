"""The test suite (a package, so test folders such as ``platform`` never shadow the stdlib)."""
