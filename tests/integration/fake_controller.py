"""A minimal AWX / Automation controller API over real HTTP on 127.0.0.1, serving what ansible-rulebook's
run_job_template needs (ansible_rulebook/job_template_runner.py and shared_job_monitor.py, 1.3.2):

  GET  /api/v2/config/                           the connection check at startup
  GET  /api/v2/unified_job_templates/?name=...   the template lookup (then filtered by type and organization)
  POST /api/v2/job_templates/<id>/launch/        the launch, answered with the job's url
  GET  /api/v2/jobs/?id__in=...&page_size=...    the job monitor, until a job's status is final

Each launch runs ``run_job(template, extra_vars)`` in a thread, as AWX runs the template's playbook; the job is
``successful`` if it returns 0, ``failed`` otherwise. As AWX does, launch fields the template does not prompt for
are dropped and reported in ``ignored_fields``. Every request is recorded; anything else is answered 404."""

import datetime
import itertools
import json
import threading
from urllib.parse import parse_qs, urlparse

from fake_http import FakeServer, JsonHandler

FINAL = ("successful", "failed", "error", "canceled")
# Launch fields and the template flag that lets a launch set them.
PROMPTS = {"extra_vars": "ask_variables_on_launch", "limit": "ask_limit_on_launch",
           "inventory": "ask_inventory_on_launch", "labels": "ask_labels_on_launch"}


def _now():
    return datetime.datetime.now(datetime.timezone.utc).isoformat()


class FakeController(FakeServer):  # pylint: disable=too-many-instance-attributes
    def __init__(self, token, run_job, templates=()):
        """``templates``: dicts with ``name``, ``organization`` and optionally ``ask_*_on_launch`` flags."""
        self.token = token
        self.run_job = run_job
        self.templates = []
        self.launches = []
        self.jobs = {}
        self.calls = []
        self.lock = threading.Lock()
        self.threads = []
        self._ids = itertools.count(1)
        for template in templates:
            self.add_template(**template)
        super().__init__(_handler(self))

    def add_template(self, name, organization, **flags):
        template = {"id": 100 + len(self.templates), "type": "job_template", "name": name,
                    "summary_fields": {"organization": {"id": 1, "name": organization}},
                    "related": {"launch": "/api/v2/job_templates/%d/launch/" % (100 + len(self.templates))}}
        template.update({flag: flags.get(flag, False) for flag in PROMPTS.values()})
        self.templates.append(template)
        return template

    def __exit__(self, *exc):
        super().__exit__(*exc)
        for thread in self.threads:
            thread.join(300)

    # ------------------------------------------------------------------ API

    def authorized(self, headers):
        return headers.get("Authorization") == "Bearer %s" % self.token

    def get(self, path, query):
        if path == "/api/v2/config/":
            return 200, {"version": "4.6.0", "license_info": {}}
        if path == "/api/v2/unified_job_templates/":
            found = [template for template in self.templates if template["name"] in query.get("name", [])]
            return 200, {"count": len(found), "next": None, "previous": None, "results": found}
        if path == "/api/v2/jobs/":
            wanted = {int(job_id) for job_id in query.get("id__in", [""])[0].split(",") if job_id}
            with self.lock:
                found = [dict(self.jobs[job_id]) for job_id in sorted(wanted) if job_id in self.jobs]
            return 200, {"count": len(found), "next": None, "previous": None, "results": found}
        return 404, {"detail": "Not found."}

    def launch(self, path, body):
        template = next((template for template in self.templates if template["related"]["launch"] == path), None)
        if template is None:
            return 404, {"detail": "Not found."}
        accepted = {key: value for key, value in body.items() if template.get(PROMPTS.get(key))}
        ignored = {key: value for key, value in body.items() if key not in accepted}
        extra_vars = accepted.get("extra_vars", {})
        if isinstance(extra_vars, str):
            extra_vars = json.loads(extra_vars or "{}")
        job_id = next(self._ids)
        job = {"id": job_id, "type": "job", "url": "/api/v2/jobs/%d/" % job_id, "status": "pending",
               "created": _now(), "job_template": template["id"], "name": template["name"], "artifacts": {}}
        with self.lock:
            self.jobs[job_id] = job
            self.launches.append({"template": template, "body": body, "extra_vars": extra_vars, "job": job_id})
        thread = threading.Thread(target=self._run, args=(job_id, template, extra_vars), daemon=True)
        self.threads.append(thread)
        thread.start()
        return 201, dict(job, job=job_id, ignored_fields=ignored)

    def _run(self, job_id, template, extra_vars):
        with self.lock:
            self.jobs[job_id].update(status="running", started=_now())
        try:
            rc, output = self.run_job(template, extra_vars)
        except Exception as err:  # pylint: disable=broad-exception-caught  # AWX reports any crash as an error
            rc, output, status = None, repr(err), "error"
        else:
            status = "successful" if rc == 0 else "failed"
        with self.lock:
            self.jobs[job_id].update(status=status, failed=status != "successful", finished=_now(), rc=rc,
                                     result_stdout=output)

    def wait_jobs(self, timeout):
        """Wait for every launched job to finish; the jobs, in launch order."""
        for thread in list(self.threads):
            thread.join(timeout)
        with self.lock:
            return [dict(self.jobs[job_id]) for job_id in sorted(self.jobs)]


def _handler(controller):
    class Handler(JsonHandler):
        def _serve(self, method):
            url = urlparse(self.path)
            raw = self.read_body()
            authorized = controller.authorized(self.headers)
            with controller.lock:
                controller.calls.append({"method": method, "path": url.path, "query": parse_qs(url.query),
                                         "authorized": authorized})
            if not authorized:
                self.answer(401, {"detail": "Authentication credentials were not provided."})
            elif method == "GET":
                self.answer(*controller.get(url.path, parse_qs(url.query)))
            else:
                self.answer(*controller.launch(url.path, json.loads(raw or b"{}")))

        def do_GET(self):  # pylint: disable=invalid-name
            self._serve("GET")

        def do_POST(self):  # pylint: disable=invalid-name
            self._serve("POST")

    return Handler
