"""The pure core: given spec, status, one observation and the time, decide what happens next."""
