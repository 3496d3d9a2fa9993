"""SMS providers: Tencent Cloud and Aliyun, their request signers and status queries, batching,
failover between the two, and the lean HTTP/1.1 client their high-volume sends use.

May import channels.base, channels.settings, hub.core and hub.infra only.
"""
