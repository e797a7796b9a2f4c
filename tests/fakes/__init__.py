"""Small, honest stand-ins for hardware the test machines lack (see `fakes.nvml`)."""
