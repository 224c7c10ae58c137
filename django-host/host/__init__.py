"""django-host: serves the built Secure Drop PWA and forwards /api to the relay on one origin."""
