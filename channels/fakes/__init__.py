"""Loopback fakes of each provider (real wire format, signatures, error switches, status queries),
shipped so tests, ``hub bench`` and drills can use them.
"""
