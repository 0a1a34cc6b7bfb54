"""Command line: `python -m scs_emulator serve [options]` (see README)."""

import argparse
import datetime
import http.client
import json
import os
import shutil
import socket
import ssl
import sys
import tempfile
import threading
import time

STATE_KEYS = ("SCS_URL", "SCS_TOKEN", "SCS_READONLY_TOKEN", "SCS_CA_PATH")
CERT_MODES = ("valid", "expired", "wrong-host")
WRONG_HOST = "wrong-host.example"


def build_parser():
    parser = argparse.ArgumentParser(prog="python -m scs_emulator", description="Stamus Central Server (SCS) emulator")
    sub = parser.add_subparsers(dest="command", required=True)
    serve_p = sub.add_parser("serve", help="seed (or reuse) a data dir and serve the SCS REST API with gunicorn")
    serve_p.add_argument("--tls", action="store_true", help="serve HTTPS with a throwaway CA written to <data-dir>/ca.pem")
    serve_p.add_argument("--cert-mode", choices=CERT_MODES, default="valid",
                         help="with --tls: serve a valid certificate, an expired one, or one for %s only" % WRONG_HOST)
    serve_p.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1)")
    serve_p.add_argument("--port", type=int, default=0, help="port (default 0: a free port, printed once ready)")
    serve_p.add_argument("--data-dir", help="data directory (default: a new temporary directory, removed on exit)")
    serve_p.add_argument("--seed", type=int, default=1, help="random seed of the generated data (default 1)")
    serve_p.add_argument("--probes", type=int, default=3)
    serve_p.add_argument("--templates", type=int, default=2)
    serve_p.add_argument("--alerts", type=int, default=250)
    serve_p.add_argument("--flows", type=int, default=120)
    serve_p.add_argument("--pcap", choices=("mixed", "all", "none"), default="mixed", help="which probes have conditional pcap on")
    serve_p.add_argument("--now", type=float, help="pin 'now' (epoch seconds) for the seeded timestamps")
    serve_p.add_argument("--token", help="admin (superuser) token (default: random, or the one already in the data dir)")
    serve_p.add_argument("--readonly-token", help="analyst (read + pcap workflow) token")
    serve_p.add_argument("--legacy", action="store_true",
                         help="old SCS: probes at /rest/appliances/appliance/ and alerts_tail results as raw hits")
    serve_p.add_argument("--raw-hits", action="store_true",
                         help="alerts_tail results as raw Elasticsearch hits {_id, _source, ...} (SCS before mid-2022)")
    serve_p.add_argument("--es-keyword", default="keyword",
                         help="the es_keyword that rules/system_settings/ reports (default keyword; Scirius's own is raw)")
    serve_p.add_argument("--analysed-subfields", action="store_true",
                         help="treat the .raw/.keyword sub-fields as analysed text (a server whose exact filter over-matches)")
    serve_p.add_argument("--state-file", help="write the connection details as JSON to this file once ready")
    serve_p.add_argument("--workers", type=int, default=1, help="gunicorn worker processes (keep 1: fault state is per process)")
    serve_p.add_argument("--threads", type=int, default=8, help="threads per worker (gthread)")
    serve_p.add_argument("--task-delay", type=float, default=0.5, help="seconds an attempt of an apply task runs")
    serve_p.add_argument("--task-retry-delay", type=float, default=1.0,
                         help="seconds between a failed attempt of an apply task and its retry (SCS: about 180)")
    serve_p.add_argument("--open-source-push", action="store_true",
                         help="serve POST /rest/suricata/update_push_all/ as open-source Scirius (synchronous)")
    serve_p.add_argument("--pcap-file-size", type=int, default=32768, help="probe pcap store: rotate files at this size")
    serve_p.add_argument("--pcap-total-size", type=int, default=196608, help="probe pcap store: total size kept")
    serve_p.add_argument("--upload-limit", type=int, default=100000000, help="largest accepted alert upload, bytes")
    serve_p.add_argument("--log-level", default="warning", help="gunicorn log level")
    return parser


def _setup_django(data_dir, legacy):
    os.environ["SCS_EMULATOR_DATA_DIR"] = data_dir
    os.environ["SCS_EMULATOR_LEGACY"] = "1" if legacy else "0"
    os.environ["DJANGO_SETTINGS_MODULE"] = "scs_emulator.settings"
    import django  # pylint: disable=import-outside-toplevel
    django.setup()


def _prepare_data(args, data_dir):
    from django.core.management import call_command  # pylint: disable=import-outside-toplevel
    from . import runtime, seed  # pylint: disable=import-outside-toplevel

    call_command("migrate", run_syncdb=True, verbosity=0, interactive=False)
    if seed.is_seeded():
        info = seed.SeedInfo.objects.first()
        runtime.configure(seed=info.seed)
    else:
        params = {"seed": args.seed, "probes": args.probes, "templates": args.templates, "alerts": args.alerts,
                  "flows": args.flows, "pcap": args.pcap, "now": args.now if args.now is not None else time.time()}
        seed.seed(params, runtime.CONFIG)
    tokens = seed.ensure_tokens(args.token, args.readonly_token)
    os.makedirs(os.path.join(data_dir, "scs", "pcaps"), exist_ok=True)
    return tokens


def _leaf_paths(data_dir, cert_mode):
    suffix = "" if cert_mode == "valid" else "-" + cert_mode
    return os.path.join(data_dir, "server%s.pem" % suffix), os.path.join(data_dir, "server%s.key" % suffix)


def _issue(ca, cert_mode):
    """A trustme LeafCert of `ca` for that mode."""
    if cert_mode == "expired":
        now = datetime.datetime.now(datetime.timezone.utc)
        return ca.issue_cert("127.0.0.1", "::1", "localhost", not_before=now - datetime.timedelta(days=30),
                             not_after=now - datetime.timedelta(days=1))
    if cert_mode == "wrong-host":
        return ca.issue_cert(WRONG_HOST)
    return ca.issue_cert("127.0.0.1", "::1", "localhost")


def make_certs(data_dir, cert_mode="valid"):
    """(ca_path, cert_path, key_path): a trustme CA (reused) and a server cert for `cert_mode`.

    valid: for 127.0.0.1, ::1, localhost; expired: same names, validity ended yesterday;
    wrong-host: valid, for wrong-host.example only. The CA key is kept in <data-dir>/ca.key so
    every mode's certificate is signed by the same CA (<data-dir>/ca.pem).
    """
    if cert_mode not in CERT_MODES:
        raise ValueError("cert_mode must be one of %s" % ", ".join(CERT_MODES))
    ca_path = os.path.join(data_dir, "ca.pem")
    ca_key_path = os.path.join(data_dir, "ca.key")
    cert_path, key_path = _leaf_paths(data_dir, cert_mode)
    have_ca = os.path.exists(ca_path) and os.path.exists(ca_key_path)
    if have_ca and os.path.exists(cert_path) and os.path.exists(key_path):
        return ca_path, cert_path, key_path
    import trustme  # pylint: disable=import-outside-toplevel
    if have_ca:
        with open(ca_path, "rb") as ca_fh, open(ca_key_path, "rb") as key_fh:
            ca = trustme.CA.from_pem(ca_fh.read(), key_fh.read())
    else:
        # a new CA: drop every certificate of an older one
        for mode in CERT_MODES:
            for path in _leaf_paths(data_dir, mode):
                if os.path.exists(path):
                    os.unlink(path)
        ca = trustme.CA(organization_name="SCS emulator test CA")
        ca.private_key_pem.write_to_path(ca_key_path)
        ca.cert_pem.write_to_path(ca_path)
    cert = _issue(ca, cert_mode)
    cert.private_key_pem.write_to_path(key_path)
    cert.cert_chain_pems[0].write_to_path(cert_path)
    for pem in cert.cert_chain_pems[1:]:
        pem.write_to_path(cert_path, append=True)
    return ca_path, cert_path, key_path


def bind_socket(host, port):
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    if family == socket.AF_INET6 and host == "::":
        sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind((host, port))
    sock.listen(256)
    sock.set_inheritable(True)
    return sock


def _client_host(host):
    if host in ("0.0.0.0", ""):
        return "127.0.0.1"
    if host == "::":
        return "::1"
    return host


def _url_host(host):
    return "[%s]" % host if ":" in host else host


def _write_json_atomic(path, payload):
    tmp = "%s.tmp-%d" % (path, os.getpid())
    with open(tmp, "w", encoding="utf-8") as fh:
        json.dump(payload, fh, indent=2)
    os.replace(tmp, path)


def _announcer(info):
    """Return a post_worker_init hook: self-request until ready, then print and write the state (once)."""

    def announce():
        host, port = info["client_host"], info["port"]
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            try:
                if info["tls"]:
                    ctx = ssl.create_default_context(cafile=info["ca_path"])
                    if info["cert_mode"] != "valid":
                        # the served certificate is wrong on purpose: this one probe does not check it
                        ctx.check_hostname = False
                        ctx.verify_mode = ssl.CERT_NONE
                    conn = http.client.HTTPSConnection(host, port, timeout=5, context=ctx)
                else:
                    conn = http.client.HTTPConnection(host, port, timeout=5)
                conn.request("GET", "/_emulator/health/")
                status = conn.getresponse().status
                conn.close()
                if status == 200:
                    break
            except (OSError, http.client.HTTPException):
                pass
            time.sleep(0.05)
        else:
            sys.stderr.write("scs_emulator: self-request never succeeded\n")
            return
        marker = os.path.join(info["data_dir"], ".announced-%d" % os.getppid())
        if os.path.exists(marker):
            return
        with open(marker, "w", encoding="utf-8") as fh:
            fh.write("1")
        state = info["state"]
        state["pid"] = os.getppid()
        state["worker_pid"] = os.getpid()
        if info["state_file"]:
            _write_json_atomic(info["state_file"], state)
        for key in STATE_KEYS:
            sys.stdout.write("%s=%s\n" % (key, state[key]))
        sys.stdout.flush()

    def hook(worker):  # pylint: disable=unused-argument
        thread = threading.Thread(target=announce, name="scs-announce", daemon=True)
        thread.start()
    return hook


def serve(args):
    auto_dir = args.data_dir is None
    data_dir = os.path.abspath(args.data_dir or tempfile.mkdtemp(prefix="scs-emulator-"))
    os.makedirs(data_dir, exist_ok=True)
    _setup_django(data_dir, args.legacy)
    from . import runtime  # pylint: disable=import-outside-toplevel
    runtime.configure(data_dir=data_dir, pcap_file_size=args.pcap_file_size, pcap_total_size=args.pcap_total_size,
                      task_delay=args.task_delay, task_retry_delay=args.task_retry_delay,
                      open_source_push=args.open_source_push, upload_limit=args.upload_limit, seed=args.seed,
                      raw_hits=bool(args.raw_hits or args.legacy), es_keyword=args.es_keyword,
                      analysed_subfields=bool(args.analysed_subfields))
    token, readonly_token = _prepare_data(args, data_dir)
    ca_path = cert_path = key_path = None
    if args.tls:
        ca_path, cert_path, key_path = make_certs(data_dir, args.cert_mode)
    sock = bind_socket(args.host, args.port)
    port = sock.getsockname()[1]
    client_host = _client_host(args.host)
    state = {
        "SCS_URL": "%s://%s:%d" % ("https" if args.tls else "http", _url_host(client_host), port),
        "SCS_TOKEN": token, "SCS_READONLY_TOKEN": readonly_token, "SCS_CA_PATH": ca_path or "",
        "data_dir": data_dir, "host": args.host, "port": port, "tls": bool(args.tls), "legacy": bool(args.legacy),
        "cert_mode": args.cert_mode if args.tls else None,
    }
    for marker in os.listdir(data_dir):
        if marker.startswith(".announced-"):
            os.unlink(os.path.join(data_dir, marker))
    from .alertindex import INDEX  # pylint: disable=import-outside-toplevel
    from .wsgi import application  # pylint: disable=import-outside-toplevel
    from django.db import connections  # pylint: disable=import-outside-toplevel
    INDEX.load()
    connections.close_all()
    options = {
        "bind": ["fd://%d" % sock.fileno()],
        "workers": max(1, args.workers),
        "worker_class": "gthread",
        "threads": max(1, args.threads),
        "timeout": 120,
        "graceful_timeout": 3,
        "keepalive": 5,
        "preload_app": True,
        "accesslog": None,
        "errorlog": "-",
        "loglevel": args.log_level,
        "control_socket_disable": True,
        "post_worker_init": _announcer({"client_host": client_host, "port": port, "tls": bool(args.tls), "ca_path": ca_path,
                                        "cert_mode": args.cert_mode,
                                        "data_dir": data_dir, "state_file": args.state_file, "state": state}),
        "proc_name": "scs-emulator",
    }
    if args.tls:
        options.update({"certfile": cert_path, "keyfile": key_path})
    from .server import GunicornServer  # pylint: disable=import-outside-toplevel
    main_pid = os.getpid()
    try:
        GunicornServer(application, options).run()
    finally:
        # gunicorn workers are forked from here and leave through this frame too: only the arbiter cleans up.
        if os.getpid() == main_pid:
            try:
                sock.close()
            except OSError:
                pass
            if auto_dir:
                shutil.rmtree(data_dir, ignore_errors=True)


def main(argv=None):
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command == "serve":
        if args.cert_mode != "valid" and not args.tls:
            parser.error("--cert-mode %s needs --tls" % args.cert_mode)
        serve(args)
    return 0
