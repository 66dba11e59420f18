"""k8s/*.yaml against the Kubernetes API schemas (`make test-containers`).

No cluster runs here, so each object of every manifest goes through two
checks built from the API's own definitions, pinned in package.json:
* kubernetes-models (Kubernetes 1.27 OpenAPI): types, enums, required
  fields, quantities (validate-models.js);
* kubernetes-types (Kubernetes 1.30) under `tsc --strict`: the object as a
  typed TypeScript literal, so a field the API does not have is an error.
Each check is shown to reject a deliberately broken copy of a manifest.
The Makefile installs the packages with `npm ci` in build/k8s and passes
their node_modules in PRESTART_K8S_MODULES.
"""
import json
import os
import subprocess
from pathlib import Path

import pytest
import yaml

HERE = Path(__file__).resolve().parent
REPO = HERE.parents[1]
K8S = REPO / "k8s"


@pytest.fixture(scope="module")
def modules():
    path = os.environ.get("PRESTART_K8S_MODULES")
    if not path or not (Path(path) / "kubernetes-models").is_dir() \
            or not (Path(path) / "kubernetes-types").is_dir():
        pytest.fail("PRESTART_K8S_MODULES does not name the installed npm packages: "
                    "run `make test-containers`")
    return Path(path)


def objects(name, text):
    return [{"name": "%s#%d" % (name, i), "object": d}
            for i, d in enumerate(yaml.safe_load_all(text)) if d is not None]


def manifest_objects():
    """Every object of every manifest under k8s/, subfolders included (the
    Alembic example in k8s/alembic/)."""
    found = []
    for path in sorted(K8S.rglob("*.yaml")):
        found += objects(str(path.relative_to(K8S)), path.read_text())
    return found


def broken_copy(name, old, new):
    text = (K8S / name).read_text()
    assert old in text, "%s no longer holds %r: update the broken copy" % (name, old)
    return objects(name, text.replace(old, new, 1))


def check_models(modules, objs, work):
    spec = work / "objects.json"
    spec.write_text(json.dumps(objs))
    return subprocess.run(["node", str(HERE / "validate-models.js"), str(modules), str(spec)],
                          capture_output=True, text=True, timeout=120)


def ts_module(api_version):
    # kubernetes-types: "v1" is core/v1, "apps/v1" apps/v1
    return "core/v1" if api_version == "v1" else api_version


def check_types(modules, objs, work):
    """tsc --strict over one file per object: `const object: Kind = {...}`."""
    (work / "node_modules").symlink_to(modules, target_is_directory=True)
    files = []
    for i, o in enumerate(objs):
        obj = o["object"]
        stem = o["name"].replace("#", "-").replace(".", "-").replace("/", "-")
        f = work / ("%02d-%s.ts" % (i, stem))
        f.write_text('import type { %s } from "kubernetes-types/%s";\n\n'
                     "export const object: %s = %s;\n"
                     % (obj["kind"], ts_module(obj["apiVersion"]), obj["kind"],
                        json.dumps(obj, indent=2)))
        files.append(str(f))
    return subprocess.run([str(modules / ".bin" / "tsc"), "--strict", "--noEmit",
                           *files],
                          capture_output=True, text=True, timeout=300, cwd=str(work))


def describe(cp):
    return "exit %s\n%s%s" % (cp.returncode, cp.stdout, cp.stderr)


def test_every_manifest_is_checked():
    kinds = sorted((o["name"], o["object"]["apiVersion"], o["object"]["kind"])
                   for o in manifest_objects())
    assert kinds == [("alembic/deployment-initcontainer.yaml#0", "apps/v1", "Deployment"),
                     ("deployment-entrypoint.yaml#0", "apps/v1", "Deployment"),
                     ("deployment-expand.yaml#0", "apps/v1", "Deployment"),
                     ("deployment-initcontainer.yaml#0", "apps/v1", "Deployment"),
                     ("deployment-waiting-replicas.yaml#0", "apps/v1", "Deployment"),
                     ("job-contract.yaml#0", "batch/v1", "Job"),
                     ("job-migrate.yaml#0", "batch/v1", "Job"),
                     ("job-tenants.yaml#0", "batch/v1", "Job"),
                     ("secret.yaml#0", "v1", "Secret")]


def test_manifests_pass_kubernetes_models(modules, tmp_path):
    objs = manifest_objects()
    cp = check_models(modules, objs, tmp_path)
    assert cp.returncode == 0, describe(cp)
    assert sorted(ln.split(":")[0] for ln in cp.stdout.splitlines()) == \
        sorted("ok " + o["name"] for o in objs)


def test_manifests_pass_kubernetes_types_strict(modules, tmp_path):
    cp = check_types(modules, manifest_objects(), tmp_path)
    assert cp.returncode == 0, describe(cp)


def the_object(name):
    (o,) = [o["object"] for o in manifest_objects() if o["name"] == name + "#0"]
    return o


def test_two_phase_rollout_manifests():
    """The expand initContainer and the contract Job run with their phase,
    and the Job is a post-rollout hook for Helm and for Argo CD alike
    (neither reads the other's annotations)."""
    dep = the_object("deployment-expand.yaml")
    pod = dep["spec"]["template"]["spec"]
    (init,) = pod["initContainers"]
    args = init["args"]
    assert init["command"] == ["/usr/local/bin/prestart"]
    assert args[args.index("--phase") + 1] == "expand" and args[-1] == "run", args
    # the rollout keeps the previous version serving while the new pods start
    assert dep["spec"]["strategy"]["rollingUpdate"]["maxUnavailable"] == 0
    # the application container does not migrate again
    assert all(c["command"][0] != "/usr/local/bin/prestart" for c in pod["containers"])

    job = the_object("job-contract.yaml")
    ann = job["metadata"]["annotations"]
    assert "post-upgrade" in ann["helm.sh/hook"].split(","), ann
    assert "before-hook-creation" in ann["helm.sh/hook-delete-policy"].split(","), ann
    int(ann["helm.sh/hook-weight"])  # Helm sorts hooks by this number, given as a string
    assert ann["argocd.argoproj.io/hook"] == "PostSync", ann
    assert "BeforeHookCreation" in ann["argocd.argoproj.io/hook-delete-policy"].split(","), ann
    (c,) = job["spec"]["template"]["spec"]["containers"]
    argv = c["command"] + c["args"]
    assert argv[argv.index("--phase") + 1] == "contract" and "upgrade" in argv, argv
    # the Job migrates the schema the rolled-out version's image carries
    assert c["image"] == init["image"] == pod["containers"][0]["image"]


# (manifest, text replaced, replacement, what the error must name)
MODELS_BREAKS = [
    ("deployment-initcontainer.yaml", "replicas: 3", "replicas: three",
     "spec/replicas must be integer"),
    ("deployment-initcontainer.yaml", "- name: migrate\n", "- nam: migrate\n",
     "initContainers/0 must have required property name"),
    ("job-migrate.yaml", "memory: 64Mi", "memory: 64MB",
     'limits/memory must match format "quantity"'),
    ("deployment-entrypoint.yaml", "type: RuntimeDefault", "type: Runtimedefault",
     "seccompProfile/type must be equal to one of the allowed values"),
]

TYPES_BREAKS = [
    ("deployment-initcontainer.yaml", "initContainers:", "initContainerz:",
     "'\"initContainerz\"' does not exist in type 'PodSpec'"),
    ("job-migrate.yaml", "backoffLimit: 3", "backoffLimit: '3'",
     "Type 'string' is not assignable to type 'number'"),
]


@pytest.mark.parametrize("name,old,new,error", MODELS_BREAKS,
                         ids=[b[2].split(":")[0].strip("- ") for b in MODELS_BREAKS])
def test_kubernetes_models_rejects_a_broken_copy(modules, tmp_path, name, old, new, error):
    cp = check_models(modules, broken_copy(name, old, new), tmp_path)
    assert cp.returncode == 1, describe(cp)
    assert "FAIL %s#0" % name in cp.stdout and error in cp.stdout, describe(cp)


@pytest.mark.parametrize("name,old,new,error", TYPES_BREAKS,
                         ids=[b[2].split(":")[0] for b in TYPES_BREAKS])
def test_kubernetes_types_rejects_a_broken_copy(modules, tmp_path, name, old, new, error):
    cp = check_types(modules, broken_copy(name, old, new), tmp_path)
    assert cp.returncode != 0, describe(cp)
    assert error in cp.stdout, describe(cp)
