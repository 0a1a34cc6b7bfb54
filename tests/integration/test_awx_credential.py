"""The AWX/AAP credential type (extensions/awx/credential_type.yml): valid as AWX reads it, and what its injectors
produce (rendered as AWX renders them) is all a module needs to reach SCS."""

import os

import yaml
from jinja2 import StrictUndefined
from jinja2.sandbox import SandboxedEnvironment

from runner import REPO, TOKEN_MARKER, run_tasks

CREDENTIAL_TYPE = os.path.join(REPO, "extensions", "awx", "credential_type.yml")
FIELD_TYPES = {"string", "boolean"}


def load_type():
    with open(CREDENTIAL_TYPE) as handle:
        return yaml.safe_load(handle)


def inject(credential_type, inputs, tmp_path):
    """AWX's injection: each `file` template written to its own file, then `env` rendered with tower.filename."""
    jinja = SandboxedEnvironment(undefined=StrictUndefined)
    values = {field["id"]: inputs.get(field["id"], "") for field in credential_type["inputs"]["fields"]}
    filenames = {}
    for key, template in credential_type["injectors"].get("file", {}).items():
        name = key.split(".", 1)[1]
        path = tmp_path / ("awx-credential-" + name)
        path.write_text(jinja.from_string(template).render(values))
        filenames[name] = str(path)
    context = dict(values, tower={"filename": filenames}, awx={"filename": filenames})
    return {name: jinja.from_string(template).render(context) for name, template in credential_type["injectors"]["env"].items()}


def test_credential_type_is_well_formed():
    credential_type = load_type()
    assert credential_type["kind"] == "cloud" and credential_type["name"]
    fields = {field["id"]: field for field in credential_type["inputs"]["fields"]}
    assert all(field["type"] in FIELD_TYPES and field["label"] and field.get("help_text") for field in fields.values())
    assert set(credential_type["inputs"]["required"]) == {"scs_url", "scs_token"} <= set(fields)
    assert fields["scs_token"].get("secret") is True and fields["ca_cert"].get("multiline") is True
    assert set(credential_type["injectors"]["env"]) == {"SCS_URL", "SCS_TOKEN", "SCS_CA_PATH"}


def test_injected_environment_reaches_scs(tmp_path, clean_scs):
    with open(clean_scs.ca_path) as handle:
        ca_pem = handle.read()
    env = inject(load_type(), {"scs_url": clean_scs.url, "scs_token": clean_scs.token, "ca_cert": ca_pem}, tmp_path)
    assert env["SCS_CA_PATH"] and open(env["SCS_CA_PATH"]).read() == ca_pem
    run = run_tasks(tmp_path, env, [
        {"name": "Newest alert", "stamus.scs.alert_info": {"limit": 1}, "register": "newest"},
    ], verbosity=3)
    assert run.rc == 0 and run["newest"]["count"] == 1, run.stdout
    assert TOKEN_MARKER not in run.stdout + run.stderr


def test_empty_ca_certificate_means_the_system_trust_store(tmp_path, clean_scs):
    env = inject(load_type(), {"scs_url": clean_scs.url, "scs_token": clean_scs.token}, tmp_path)
    assert env["SCS_CA_PATH"] == ""
    run = run_tasks(tmp_path, env, [
        {"name": "Newest alert", "stamus.scs.alert_info": {"limit": 1}, "register": "newest"},
    ])
    # The emulator's private CA is not in the system store: the module says so instead of reading an empty CA file.
    assert run["newest"]["failed"] and "certificate verify failed" in run["newest"]["msg"]
    assert "ca_path" in run["newest"]["msg"] or "SCS_CA_PATH" in run["newest"]["msg"]
