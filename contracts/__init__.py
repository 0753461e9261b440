"""Wire contracts of the platform: subjects, streams and message schemas (v1).

See contracts/README.md for who publishes and who consumes each subject.
"""
