#!/usr/bin/env bash
# Schema-checks everything under deploy/, offline once the checker is installed.
#
#  * Kubernetes objects (Namespace, Deployment, Service, ...): kubernetes-validate
#    in --strict mode (unknown fields are errors), against the Kubernetes
#    OpenAPI schemas bundled in that PyPI package, so no cluster and no network
#    access beyond PyPI for the one-time install.
#  * Files that are not served API objects and so have no published schema —
#    the kube-apiserver audit Policy, the webhook kubeconfig and
#    kustomization.yaml — against the JSON schemas in deploy/schemas/, plus
#    cross-reference checks (every kustomize resource exists; every manifest is
#    in the kustomization or named *.example.yaml; the kubeconfig's context
#    points at a defined cluster and user, and its URL at a kaudit audit path).
#  * The falco.yaml and rule files embedded in ConfigMaps parse as YAML of the
#    expected shape; with KAUDIT_BIN set (a built kaudit), the run-time rules
#    are also loaded on top of the bundled rules with `kaudit validate`.
#
# Usage: bash deploy/validate.sh
# The checker's venv goes to $KAUDIT_DEPLOY_VENV, else deploy-venv in cargo's target directory
# ($CARGO_TARGET_DIR when set, else target/ in the repository).
set -euo pipefail

deploy_dir=$(cd "$(dirname "$0")" && pwd)
repo_dir=$(cd "$deploy_dir/.." && pwd)
target_dir=${CARGO_TARGET_DIR:-$repo_dir/target}
case $target_dir in
    /*) ;;
    *) target_dir=$PWD/$target_dir ;; # cargo reads a relative CARGO_TARGET_DIR from the current directory
esac
venv=${KAUDIT_DEPLOY_VENV:-$target_dir/deploy-venv}
checker_version=1.37.0
# Oldest and newest Kubernetes the manifests are meant for.
kubernetes_versions=(1.29.0 1.37.0)

if [ ! -x "$venv/bin/kubernetes-validate" ] ||
    ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('kubernetes-validate') != '$checker_version')" 2>/dev/null; then
    echo "installing kubernetes-validate $checker_version into $venv"
    python3 -m venv "$venv"
    "$venv/bin/pip" install --quiet --disable-pip-version-check "kubernetes-validate==$checker_version"
fi

cd "$deploy_dir"

echo "== audit policy, webhook kubeconfig, kustomization, embedded config"
status=0
KAUDIT_BIN=${KAUDIT_BIN:-} "$venv/bin/python" - <<'EOF' || status=1
import glob, json, os, subprocess, sys, tempfile
import jsonschema, yaml

failures = []

def fail(msg):
    failures.append(msg)
    print("FAIL " + msg)

def load(path):
    with open(path) as f:
        return yaml.safe_load(f)

def check_schema(path, schema_file):
    with open(schema_file) as f:
        schema = json.load(f)
    doc = load(path)
    validator = jsonschema.Draft202012Validator(schema)
    errors = sorted(validator.iter_errors(doc), key=lambda e: list(e.path))
    for e in errors:
        where = "/".join(str(p) for p in e.path) or "(top)"
        fail(f"{path}: {where}: {e.message}")
    if not errors:
        print(f"ok   {path} ({schema_file})")
    return doc

# Files with no published schema.
check_schema("apiserver/audit-policy.yaml", "schemas/audit-policy.schema.json")
kubeconfig = check_schema("apiserver/audit-webhook-kubeconfig.yaml", "schemas/kubeconfig.schema.json")
kustomization = check_schema("kustomization.yaml", "schemas/kustomization.schema.json")

# kubeconfig cross-references: the current context exists and names a defined
# cluster and user; the server URL ends in a path kaudit serves.
if isinstance(kubeconfig, dict):
    contexts = {c["name"]: c["context"] for c in kubeconfig.get("contexts", [])}
    clusters = {c["name"]: c["cluster"] for c in kubeconfig.get("clusters", [])}
    users = {u["name"] for u in kubeconfig.get("users", [])}
    ctx = contexts.get(kubeconfig.get("current-context"))
    if ctx is None:
        fail("kubeconfig: current-context names no context")
    else:
        if ctx.get("cluster") not in clusters:
            fail(f"kubeconfig: context cluster '{ctx.get('cluster')}' is not defined")
        if "user" in ctx and ctx["user"] not in users:
            fail(f"kubeconfig: context user '{ctx['user']}' is not defined")
        server = clusters.get(ctx.get("cluster"), {}).get("server", "")
        if not (server.endswith("/k8s-audit") or server.endswith("/k8s_audit")):
            fail(f"kubeconfig: server '{server}' does not end in /k8s-audit or /k8s_audit")

# Every manifest is deployed (listed) or explicitly an example.
if isinstance(kustomization, dict):
    listed = set(kustomization.get("resources", []))
    for r in sorted(listed):
        if not os.path.isfile(r):
            fail(f"kustomization.yaml: resource '{r}' does not exist")
    for path in sorted(glob.glob("*.yaml")):
        if path == "kustomization.yaml" or path.endswith(".example.yaml"):
            continue
        if path not in listed:
            fail(f"{path} is not listed in kustomization.yaml (name it *.example.yaml if it is only an example)")

# Embedded documents: falco.yaml is a mapping; rule files are lists of items
# (or empty, when they only hold commented examples).
config = load("configmap-config.yaml")
falco_yaml = yaml.safe_load(config["data"]["falco.yaml"])
if not isinstance(falco_yaml, dict):
    fail("configmap-config.yaml: data.falco.yaml is not a YAML mapping")
else:
    print("ok   configmap-config.yaml data.falco.yaml parses")
rules_cm = load("configmap-rules.yaml")
rule_files = rules_cm.get("data", {})
for name, text in rule_files.items():
    doc = yaml.safe_load(text)
    if doc is not None and not isinstance(doc, list):
        fail(f"configmap-rules.yaml: {name} is not a list of rule items")
    else:
        print(f"ok   configmap-rules.yaml data.{name} parses")

# Optional: load the run-time rules over the bundled ones with a real kaudit.
kaudit = os.environ.get("KAUDIT_BIN")
if kaudit:
    bundled = os.path.join("..", "rules", "k8s_audit_rules.yaml")
    with tempfile.TemporaryDirectory() as tmp:
        args = [kaudit, "validate", "-r", bundled]
        for name, text in rule_files.items():
            p = os.path.join(tmp, name)
            with open(p, "w") as f:
                f.write(text)
            args += ["-r", p]
        r = subprocess.run(args, capture_output=True, text=True)
        if r.returncode != 0:
            fail(f"kaudit validate of the run-time rules failed:\n{r.stdout}{r.stderr}")
        else:
            print("ok   kaudit validate: bundled rules + configmap-rules.yaml")

if failures:
    print(f"{len(failures)} problem(s) in deploy/")
    sys.exit(1)
print("schema and cross-reference checks passed")
EOF

# Kubernetes API objects: the resources kustomization.yaml lists (missing ones
# were reported above).
mapfile -t resources < <("$venv/bin/python" - <<'EOF'
import os, yaml
with open("kustomization.yaml") as f:
    for r in yaml.safe_load(f).get("resources", []):
        if os.path.isfile(r):
            print(r)
EOF
)
for version in "${kubernetes_versions[@]}"; do
    echo "== kubernetes-validate --strict, Kubernetes $version: ${resources[*]}"
    "$venv/bin/kubernetes-validate" --strict --quiet -k "$version" "${resources[@]}" || status=1
done

if [ "$status" -ne 0 ]; then
    echo "deploy/: validation FAILED" >&2
    exit 1
fi
echo "deploy/: all checks passed"
