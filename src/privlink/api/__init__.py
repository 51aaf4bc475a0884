"""The AWS wire: one HTTP port, every emulated service, model-driven protocols."""
