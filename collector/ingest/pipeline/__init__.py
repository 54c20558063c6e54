"""The pipeline: a named list of pure Event -> Event steps, and the scrubbing and URL rules they use."""
