"""WeChat: Official Account (公众号) and WeCom (企业微信) apps, their callback crypto, and access
tokens cached in Redis for every process.

May import channels.base, channels.settings, hub.core and hub.infra only.
"""
