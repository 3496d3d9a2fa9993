"""Telegram through aiogram 3: the channel, and the inline keyboards it sends.

May import channels.base, channels.settings, hub.core and hub.infra only.
"""
