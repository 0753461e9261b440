"""`make bench`: the platform (HTTP -> api -> NATS -> worker -> engine -> SSE) against the
same vLLM engine called in-process, side by side in one run."""
