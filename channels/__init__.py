"""Provider channels: one module per provider behind the small interface in channels.base."""
