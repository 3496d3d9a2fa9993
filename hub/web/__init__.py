"""The HTTP side: health and metrics now; api/, webhooks/ and admin/ join as they are built."""
