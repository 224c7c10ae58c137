"""ASGI application for uvicorn: `uvicorn host.asgi:application` (from django-host/)."""

import os

os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'host.settings')

from django.conf import settings

from host.dispatch import build_application

application = build_application(settings.CONFIG)
