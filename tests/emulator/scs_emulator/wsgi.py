"""WSGI entry point: Django behind the fault-injection / request-log middleware."""

import os

from django.core.wsgi import get_wsgi_application

from .faults import EmulatorMiddleware

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "scs_emulator.settings")

application = EmulatorMiddleware(get_wsgi_application())
