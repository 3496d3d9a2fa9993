"""Classifying a reply into exactly one class (hub.core.vocab.ReplyClass): ratings, visit answers
and the times they name, and the text helpers they share.

Pure functions: may import hub.core only.
"""
