"""Inference worker: takes chat requests from JetStream, streams tokens from vLLM back."""
