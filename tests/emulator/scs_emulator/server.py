"""Run a WSGI application in-process under gunicorn (arbiter + gthread worker)."""

from gunicorn.app.base import BaseApplication


class GunicornServer(BaseApplication):  # pylint: disable=abstract-method
    def __init__(self, wsgi_app, options):
        self.wsgi_app = wsgi_app
        self.options = options
        super().__init__()

    def load_config(self):
        for key, value in self.options.items():
            self.cfg.set(key, value)

    def load(self):
        return self.wsgi_app
