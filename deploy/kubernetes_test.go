package deploy

import (
	"bytes"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	policyv1 "k8s.io/api/policy/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/util/validation"
	"sigs.k8s.io/yaml"
)

const manifests = "kubernetes"

// kustomization is the part of kustomization.yaml that kubectl apply -k
// reads here; decoded strictly, so a misspelt field fails.
type kustomization struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Namespace  string   `json:"namespace"`
	Resources  []string `json:"resources"`
}

// object is one manifest decoded into its API type.
type object struct {
	File string
	Kind string
	Name string
	Obj  any
}

// decodeStrict decodes one YAML document into the API type its apiVersion
// and kind name: an unknown kind, an unknown field anywhere (a typo in
// readinessProbe, a field of another API version) or a value of the wrong
// type fails. This is the schema check: the Go types of k8s.io/api are
// what the API server's OpenAPI schema is generated from.
func decodeStrict(doc []byte) (object, error) {
	var u unstructured.Unstructured
	if err := yaml.Unmarshal(doc, &u.Object); err != nil {
		return object{}, err
	}
	var obj any
	switch gvk := u.GroupVersionKind(); gvk.GroupVersion().String() + "/" + gvk.Kind {
	case "v1/Namespace":
		obj = &corev1.Namespace{}
	case "v1/ServiceAccount":
		obj = &corev1.ServiceAccount{}
	case "v1/ConfigMap":
		obj = &corev1.ConfigMap{}
	case "v1/Secret":
		obj = &corev1.Secret{}
	case "v1/Service":
		obj = &corev1.Service{}
	case "apps/v1/Deployment":
		obj = &appsv1.Deployment{}
	case "policy/v1/PodDisruptionBudget":
		obj = &policyv1.PodDisruptionBudget{}
	default:
		return object{}, fmt.Errorf("%s %s: a kind this test does not know", u.GetAPIVersion(), u.GetKind())
	}
	if err := yaml.UnmarshalStrict(doc, obj); err != nil {
		return object{}, fmt.Errorf("%s %s: %w", u.GetKind(), u.GetName(), err)
	}
	for _, msg := range validation.IsDNS1123Subdomain(u.GetName()) {
		return object{}, fmt.Errorf("%s name %q: %s", u.GetKind(), u.GetName(), msg)
	}
	for k, v := range u.GetLabels() {
		if msgs := append(validation.IsQualifiedName(k), validation.IsValidLabelValue(v)...); len(msgs) > 0 {
			return object{}, fmt.Errorf("%s %s: label %s=%s: %v", u.GetKind(), u.GetName(), k, v, msgs)
		}
	}
	return object{Kind: u.GetKind(), Name: u.GetName(), Obj: obj}, nil
}

func decodeFile(t *testing.T, path string) []object {
	t.Helper()
	raw, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var objs []object
	for _, doc := range regexp.MustCompile(`(?m)^---\s*$`).Split(string(raw), -1) {
		if len(bytes.TrimSpace([]byte(doc))) == 0 {
			continue
		}
		o, err := decodeStrict([]byte(doc))
		if err != nil {
			t.Errorf("%s: %v", path, err)
			continue
		}
		o.File = path
		objs = append(objs, o)
	}
	return objs
}

// TestKubernetesManifests checks deploy/kubernetes against the Kubernetes
// API types (strict decoding: see decodeStrict), then what the docs
// promise of them: the kustomization lists every manifest but the
// example Secret; two replicas share the PostgreSQL journal
// (--journal-env from a Secret) and elect a leader; liveness on /healthz
// and readiness on /readyz; the secrets (journal DSN, webhook secret,
// admin token) come from keys the example Secret has; the Service and the
// PodDisruptionBudget select the pods; the pod runs as the image's
// non-root user under the restricted pod security profile; and upshift
// agent accepts the container's arguments.
func TestKubernetesManifests(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join(manifests, "kustomization.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var k kustomization
	if err := yaml.UnmarshalStrict(raw, &k); err != nil {
		t.Fatalf("kustomization.yaml: %v", err)
	}
	if k.APIVersion != "kustomize.config.k8s.io/v1beta1" || k.Kind != "Kustomization" {
		t.Errorf("kustomization.yaml: %s %s", k.APIVersion, k.Kind)
	}
	files, _ := filepath.Glob(filepath.Join(manifests, "*.yaml"))
	for _, f := range files {
		base := filepath.Base(f)
		if base != "kustomization.yaml" && base != "secret.example.yaml" && !slices.Contains(k.Resources, base) {
			t.Errorf("%s is not in kustomization.yaml's resources", base)
		}
	}
	byKind := map[string]object{}
	for _, r := range append(slices.Clone(k.Resources), "secret.example.yaml") {
		for _, o := range decodeFile(t, filepath.Join(manifests, r)) {
			if _, dup := byKind[o.Kind]; dup {
				t.Errorf("two %s objects: this test expects one of each", o.Kind)
			}
			byKind[o.Kind] = o
		}
	}
	if t.Failed() {
		return
	}
	dep := byKind["Deployment"].Obj.(*appsv1.Deployment)
	svc := byKind["Service"].Obj.(*corev1.Service)
	pdb := byKind["PodDisruptionBudget"].Obj.(*policyv1.PodDisruptionBudget)
	secret := byKind["Secret"].Obj.(*corev1.Secret)
	cm := byKind["ConfigMap"].Obj.(*corev1.ConfigMap)
	sa := byKind["ServiceAccount"].Obj.(*corev1.ServiceAccount)

	if dep.Spec.Replicas == nil || *dep.Spec.Replicas != 2 {
		t.Errorf("replicas %v, want 2 (a leader and a standby)", dep.Spec.Replicas)
	}
	pod := dep.Spec.Template
	for what, sel := range map[string]map[string]string{"deployment": dep.Spec.Selector.MatchLabels, "service": svc.Spec.Selector, "pdb": pdb.Spec.Selector.MatchLabels} {
		if len(sel) == 0 {
			t.Errorf("%s selects nothing", what)
		}
		for k, v := range sel {
			if pod.Labels[k] != v {
				t.Errorf("%s selects %s=%s, the pod has %q", what, k, v, pod.Labels[k])
			}
		}
	}
	if pod.Spec.ServiceAccountName != sa.Name {
		t.Errorf("pod service account %q, want %q", pod.Spec.ServiceAccountName, sa.Name)
	}
	if len(pod.Spec.Containers) != 1 {
		t.Fatalf("%d containers, want 1", len(pod.Spec.Containers))
	}
	c := pod.Spec.Containers[0]
	ports := map[string]int32{}
	for _, p := range c.Ports {
		ports[p.Name] = p.ContainerPort
	}
	for _, p := range svc.Spec.Ports {
		if _, ok := ports[p.TargetPort.String()]; !ok {
			t.Errorf("service port %s targets %s, which the container does not name", p.Name, p.TargetPort.String())
		}
	}
	for probe, want := range map[*corev1.Probe]string{c.LivenessProbe: "/healthz", c.ReadinessProbe: "/readyz"} {
		if probe == nil || probe.HTTPGet == nil || probe.HTTPGet.Path != want {
			t.Errorf("probe %+v, want GET %s", probe, want)
			continue
		}
		if _, ok := ports[probe.HTTPGet.Port.String()]; !ok {
			t.Errorf("probe %s on port %s, which the container does not name", want, probe.HTTPGet.Port.String())
		}
	}

	// Environment: every secret from a key the Secret has; every value
	// the arguments use is defined.
	env := map[string]string{}
	fromSecret := map[string]string{}
	for _, e := range c.Env {
		switch {
		case e.ValueFrom == nil:
			env[e.Name] = e.Value
		case e.ValueFrom.SecretKeyRef != nil:
			ref := e.ValueFrom.SecretKeyRef
			if ref.Name != secret.Name {
				t.Errorf("env %s from secret %q, want %q", e.Name, ref.Name, secret.Name)
			} else if _, ok := secret.StringData[ref.Key]; !ok {
				t.Errorf("env %s from key %q, which secret.example.yaml lacks", e.Name, ref.Key)
			}
			fromSecret[ref.Key] = e.Name
			env[e.Name] = "secret"
		case e.ValueFrom.ConfigMapKeyRef != nil:
			ref := e.ValueFrom.ConfigMapKeyRef
			v, ok := cm.Data[ref.Key]
			if ref.Name != cm.Name || !ok {
				t.Errorf("env %s from configmap %s key %s, which configmap.yaml lacks", e.Name, ref.Name, ref.Key)
			}
			env[e.Name] = v
		case e.ValueFrom.FieldRef != nil:
			env[e.Name] = "upshift-agent-7d9f-abcde"
		}
	}
	for _, key := range []string{"journal-dsn", "webhook-secret", "admin-token"} {
		if fromSecret[key] == "" {
			t.Errorf("no environment variable from the Secret's %s", key)
		}
	}
	var args []string
	for _, a := range c.Args {
		// Kubernetes expands $(VAR) in args from the container's env.
		args = append(args, regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`).ReplaceAllStringFunc(a, func(m string) string {
			v, ok := env[m[2:len(m)-1]]
			if !ok {
				t.Errorf("argument %q uses %s, which the container's env does not define", a, m)
			}
			return v
		}))
	}
	flags := map[string]string{}
	for _, a := range args {
		if f, v, ok := strings.Cut(a, "="); ok && strings.HasPrefix(f, "--") {
			flags[f] = v
		}
	}
	if flags["--journal-env"] != fromSecret["journal-dsn"] {
		t.Errorf("--journal-env=%s, want the variable of the Secret's journal-dsn (%s): the replicas share the PostgreSQL journal and elect a leader through it",
			flags["--journal-env"], fromSecret["journal-dsn"])
	}
	if flags["--webhook-github-secret-env"] != fromSecret["webhook-secret"] {
		t.Errorf("--webhook-github-secret-env=%s, want %s", flags["--webhook-github-secret-env"], fromSecret["webhook-secret"])
	}
	if l := flags["--listen"]; !strings.HasSuffix(l, fmt.Sprintf(":%d", ports["http"])) || strings.HasPrefix(l, "127.") {
		t.Errorf("--listen=%s: want all interfaces on the container's port %d", l, ports["http"])
	}

	// The restricted pod security profile, and the image's user.
	psc, csc := pod.Spec.SecurityContext, c.SecurityContext
	if psc == nil || psc.RunAsNonRoot == nil || !*psc.RunAsNonRoot || psc.RunAsUser == nil || *psc.RunAsUser != 10001 ||
		psc.SeccompProfile == nil || psc.SeccompProfile.Type != corev1.SeccompProfileTypeRuntimeDefault {
		t.Errorf("pod securityContext %+v: want runAsNonRoot, runAsUser 10001 (the Dockerfile's USER), seccomp RuntimeDefault", psc)
	}
	if csc == nil || csc.AllowPrivilegeEscalation == nil || *csc.AllowPrivilegeEscalation || csc.Capabilities == nil ||
		!slices.Equal(csc.Capabilities.Drop, []corev1.Capability{"ALL"}) || csc.ReadOnlyRootFilesystem == nil || !*csc.ReadOnlyRootFilesystem {
		t.Errorf("container securityContext %+v: want no privilege escalation, capabilities dropped, read-only root", csc)
	}
	if pod.Spec.AutomountServiceAccountToken == nil || *pod.Spec.AutomountServiceAccountToken {
		t.Error("the pod mounts a service account token: the agent never calls the Kubernetes API")
	}

	if testing.Short() {
		return
	}
	checkAgentFlags(t, dockerfileBinary(t), args)
}

// TestKubernetesDecodeStrict: the schema check must be able to fail.
func TestKubernetesDecodeStrict(t *testing.T) {
	for name, doc := range map[string]string{
		"unknown field": "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: 2\n  template:\n    spec:\n      containers:\n        - name: a\n          readinesProbe: {}\n",
		"wrong type":    "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: a}\nspec:\n  replicas: two\n",
		"unknown kind":  "apiVersion: apps/v1\nkind: Deploymnet\nmetadata: {name: a}\n",
		"bad name":      "apiVersion: v1\nkind: Service\nmetadata: {name: Upshift_Agent}\n",
	} {
		if _, err := decodeStrict([]byte(doc)); err == nil {
			t.Errorf("%s: decoded without error", name)
		} else {
			t.Logf("%s: %v", name, err)
		}
	}
}
