"""ASGI application for uvicorn: `uvicorn host.asgi:application` (from django-host/)."""

import os

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'host.settings')

from django.conf import settings  # noqa: E402

from host.dispatch import build_application  # noqa: E402

application = build_application(settings.CONFIG)
