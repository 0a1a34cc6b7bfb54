"""Django app configuration."""

from django.apps import AppConfig


class ScsEmulatorConfig(AppConfig):
    name = "scs_emulator"
    verbose_name = "SCS emulator"
    default_auto_field = "django.db.models.AutoField"
