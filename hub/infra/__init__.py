"""Infrastructure on Redis: the connection (embedded or a server), Streams queues, the shared
token bucket, the leader lock and stream consumers' liveness.

May import hub.core only. channels/ may import it (token caches, the leader lock).
"""
