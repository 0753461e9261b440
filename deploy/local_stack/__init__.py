"""The embedded default: start nats-server, inference workers and the api on one machine.

`python -m local_stack` (what `make run` calls) runs the whole platform; tests and the
benchmark use the same classes to start real processes.
"""
