"""The HTTP transport providers use: client, pool, watchdog, SSE decoding, error translation."""
