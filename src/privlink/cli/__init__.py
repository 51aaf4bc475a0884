"""privlink's command line."""
