"""Django settings of the SCS emulator.

Everything variable comes from the environment, set by the CLI before Django starts:
SCS_EMULATOR_DATA_DIR (data directory), SCS_EMULATOR_LEGACY ("1": old probe collection path).
"""

import os

DATA_DIR = os.environ.get("SCS_EMULATOR_DATA_DIR", os.path.join(os.getcwd(), "scs-emulator-data"))
LEGACY_PROBE_PATH = os.environ.get("SCS_EMULATOR_LEGACY", "") == "1"

SECRET_KEY = "scs-emulator-not-a-secret"  # nosec: throwaway test server
DEBUG = False
ALLOWED_HOSTS = ["*"]
APPEND_SLASH = True

INSTALLED_APPS = [
    "django.contrib.contenttypes",
    "django.contrib.auth",
    "rest_framework",
    "rest_framework.authtoken",
    "scs_emulator",
]

MIDDLEWARE = [
    "django.middleware.common.CommonMiddleware",
]

ROOT_URLCONF = "scs_emulator.urls"
WSGI_APPLICATION = "scs_emulator.wsgi.application"

DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.path.join(DATA_DIR, "scs.sqlite3"),
        "CONN_MAX_AGE": None,
        "OPTIONS": {
            "timeout": 30,
            "transaction_mode": "IMMEDIATE",
            "init_command": "PRAGMA journal_mode=WAL; PRAGMA synchronous=NORMAL;",
        },
    }
}

DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
USE_TZ = True
TIME_ZONE = "UTC"
LANGUAGE_CODE = "en-us"
USE_I18N = False

# The pcap upload limit is checked by the view (100,000,000 bytes); let Django stream big files to disk.
DATA_UPLOAD_MAX_MEMORY_SIZE = None
FILE_UPLOAD_MAX_MEMORY_SIZE = 4 * 1024 * 1024
FILE_UPLOAD_TEMP_DIR = None

TEMPLATES = []

REST_FRAMEWORK = {
    # SessionAuthentication first: it has no WWW-Authenticate header, so DRF answers 403 (not 401)
    # to a missing or bad token, like SCS.
    "DEFAULT_AUTHENTICATION_CLASSES": [
        "rest_framework.authentication.SessionAuthentication",
        "rest_framework.authentication.TokenAuthentication",
    ],
    "DEFAULT_PERMISSION_CLASSES": ["rest_framework.permissions.IsAuthenticated"],
    "DEFAULT_RENDERER_CLASSES": ["rest_framework.renderers.JSONRenderer"],
    "DEFAULT_PARSER_CLASSES": [
        "rest_framework.parsers.JSONParser",
        "rest_framework.parsers.FormParser",
        "rest_framework.parsers.MultiPartParser",
    ],
    "DEFAULT_PAGINATION_CLASS": "scs_emulator.pagination.ScsPagination",
    "PAGE_SIZE": 30,
    "UNAUTHENTICATED_USER": None,
}

LOGGING = {
    "version": 1,
    "disable_existing_loggers": False,
    "handlers": {"stderr": {"class": "logging.StreamHandler"}},
    "loggers": {
        # 4xx warnings are expected traffic here; keep real errors (tracebacks of 500s).
        "django.request": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
        "django.server": {"handlers": ["stderr"], "level": "ERROR", "propagate": False},
    },
}
