package deploy

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"

	appsv1 "k8s.io/api/apps/v1"
	corev1 "k8s.io/api/core/v1"
	networkingv1 "k8s.io/api/networking/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/labels"
	"sigs.k8s.io/yaml"
)

// shippedConfig says which config/*.yaml each manifest carries, verbatim.
var shippedConfig = map[string]string{
	"sidecar.yaml":          "sidecar.yaml",
	"gateway.yaml":          "gateway-durable.yaml",
	"operator-sidecar.yaml": "sidecar.yaml",
}

// What the Downward API gives the test pod.
const (
	testPodName = "orders-6d5f7c9b8-x2x7q"
	testPodIP   = "10.244.1.7"
)

// otelCol is the part of the OpenTelemetry Operator's OpenTelemetryCollector (opentelemetry.io/v1beta1)
// these manifests use; its Go types are not in the module graph (the operator's module would pull in a
// controller stack), so only these fields are accepted, and unknown ones fail as for the k8s.io/api types.
type otelCol struct {
	metav1.TypeMeta   `json:",inline"`
	metav1.ObjectMeta `json:"metadata"`
	Spec              struct {
		Mode            string                      `json:"mode"`
		Image           string                      `json:"image"`
		Env             []corev1.EnvVar             `json:"env"`
		Resources       corev1.ResourceRequirements `json:"resources"`
		SecurityContext *corev1.SecurityContext     `json:"securityContext"`
		Config          map[string]any              `json:"config"`
	} `json:"spec"`
}

type manifest struct {
	file string
	objs []any
}

// loadManifests decodes every document of deploy/kubernetes/*.yaml strictly (unknown or duplicate fields and
// wrong types fail) into its k8s.io/api type.
func loadManifests(t *testing.T) []manifest {
	t.Helper()
	files, err := filepath.Glob(filepath.Join("kubernetes", "*.yaml"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no manifests in deploy/kubernetes: %v", err)
	}
	var out []manifest
	for _, f := range files {
		raw, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		m := manifest{file: filepath.Base(f)}
		for i, doc := range regexp.MustCompile(`(?m)^---[ \t]*$`).Split(string(raw), -1) {
			var tm metav1.TypeMeta
			if err := yaml.Unmarshal([]byte(doc), &tm); err != nil {
				t.Fatalf("%s, document %d: %v", m.file, i, err)
			}
			if tm.Kind == "" && tm.APIVersion == "" && strings.TrimSpace(stripComments(doc)) == "" {
				continue
			}
			var obj any
			switch tm.APIVersion + "/" + tm.Kind {
			case "v1/ConfigMap":
				obj = &corev1.ConfigMap{}
			case "v1/Service":
				obj = &corev1.Service{}
			case "v1/PersistentVolumeClaim":
				obj = &corev1.PersistentVolumeClaim{}
			case "apps/v1/Deployment":
				obj = &appsv1.Deployment{}
			case "apps/v1/StatefulSet":
				obj = &appsv1.StatefulSet{}
			case "networking.k8s.io/v1/NetworkPolicy":
				obj = &networkingv1.NetworkPolicy{}
			case "opentelemetry.io/v1beta1/OpenTelemetryCollector":
				obj = &otelCol{}
			default:
				t.Fatalf("%s, document %d: no type for %s %s: add it to loadManifests", m.file, i, tm.APIVersion, tm.Kind)
			}
			if err := yaml.UnmarshalStrict([]byte(doc), obj); err != nil {
				t.Fatalf("%s, document %d (%s): %v", m.file, i, tm.Kind, err)
			}
			m.objs = append(m.objs, obj)
		}
		out = append(out, m)
	}
	return out
}

func stripComments(doc string) string {
	var b strings.Builder
	for _, l := range strings.Split(doc, "\n") {
		if !strings.HasPrefix(strings.TrimSpace(l), "#") {
			b.WriteString(l + "\n")
		}
	}
	return b.String()
}

func TestKubernetesManifestsDecodeStrictly(t *testing.T) {
	ms := loadManifests(t)
	for _, m := range ms {
		if _, ok := shippedConfig[m.file]; !ok {
			t.Errorf("%s: say which config/*.yaml it carries in shippedConfig", m.file)
		}
		seen := map[string]bool{}
		for _, o := range m.objs {
			meta := o.(metav1.ObjectMetaAccessor).GetObjectMeta()
			key := fmt.Sprintf("%T/%s", o, meta.GetName())
			if meta.GetName() == "" || seen[key] {
				t.Errorf("%s: %s: empty or duplicate name", m.file, key)
			}
			seen[key] = true
		}
	}
}

// A collector as a manifest runs it: image, arguments, environment, config text, pod.
type collectorSpec struct {
	where  string
	image  string
	env    []corev1.EnvVar
	config string
	// Pod-level details, nil for the operator (it builds the pod).
	container *corev1.Container
	pod       *corev1.PodSpec
	podLabels map[string]string
}

func collectors(t *testing.T, m manifest) []collectorSpec {
	t.Helper()
	configMaps := map[string]*corev1.ConfigMap{}
	for _, o := range m.objs {
		if cm, ok := o.(*corev1.ConfigMap); ok {
			configMaps[cm.Name] = cm
		}
	}
	var out []collectorSpec
	addPod := func(owner string, tmpl *corev1.PodTemplateSpec) {
		pod := &tmpl.Spec
		all := append(append([]corev1.Container(nil), pod.InitContainers...), pod.Containers...)
		for i := range all {
			c := &all[i]
			if !strings.HasPrefix(c.Image, "otelcol-es:") && !strings.HasPrefix(c.Image, "otelcol-es-sidecar:") {
				continue
			}
			where := fmt.Sprintf("%s: %s, container %s", m.file, owner, c.Name)
			cfgPath := ""
			for _, a := range c.Args {
				if p, ok := strings.CutPrefix(a, "--config="); ok {
					cfgPath = p
				}
			}
			if cfgPath == "" {
				t.Fatalf("%s: no --config=<file> argument (the image would run its embedded default)", where)
			}
			out = append(out, collectorSpec{where: where, image: c.Image, env: c.Env, container: c, pod: pod,
				podLabels: tmpl.Labels, config: mountedFile(t, where, pod, c, cfgPath, configMaps)})
		}
	}
	for _, o := range m.objs {
		switch o := o.(type) {
		case *appsv1.Deployment:
			addPod("Deployment "+o.Name, &o.Spec.Template)
		case *appsv1.StatefulSet:
			addPod("StatefulSet "+o.Name, &o.Spec.Template)
		case *otelCol:
			cfg, err := yaml.Marshal(o.Spec.Config)
			if err != nil {
				t.Fatal(err)
			}
			out = append(out, collectorSpec{where: m.file + ": OpenTelemetryCollector " + o.Name, image: o.Spec.Image,
				env: o.Spec.Env, config: string(cfg)})
		}
	}
	if len(out) == 0 {
		t.Fatalf("%s: runs no otelcol-es", m.file)
	}
	return out
}

// mountedFile is the ConfigMap entry a container sees at file.
func mountedFile(t *testing.T, where string, pod *corev1.PodSpec, c *corev1.Container, file string, cms map[string]*corev1.ConfigMap) string {
	t.Helper()
	for _, vm := range c.VolumeMounts {
		if vm.MountPath != path.Dir(file) {
			continue
		}
		for _, v := range pod.Volumes {
			if v.Name == vm.Name && v.ConfigMap != nil {
				cm, ok := cms[v.ConfigMap.Name]
				if !ok {
					t.Fatalf("%s: ConfigMap %s is not in the same file", where, v.ConfigMap.Name)
				}
				data, ok := cm.Data[path.Base(file)]
				if !ok {
					t.Fatalf("%s: ConfigMap %s has no key %s", where, cm.Name, path.Base(file))
				}
				return data
			}
		}
	}
	t.Fatalf("%s: nothing mounted at %s", where, path.Dir(file))
	return ""
}

var envRef = regexp.MustCompile(`\$\(([A-Za-z_][A-Za-z0-9_]*)\)`)

// resolveEnv gives the environment Kubernetes would: literal values with $(VAR) expanded from the variables
// defined before, the Downward API fields these manifests use.
func resolveEnv(t *testing.T, where string, env []corev1.EnvVar) map[string]string {
	t.Helper()
	out := map[string]string{}
	for _, e := range env {
		switch {
		case e.ValueFrom == nil:
			out[e.Name] = envRef.ReplaceAllStringFunc(e.Value, func(ref string) string {
				name := envRef.FindStringSubmatch(ref)[1]
				v, ok := out[name]
				if !ok {
					t.Errorf("%s: %s refers to %s, which is not defined before it (Kubernetes leaves it unexpanded)", where, e.Name, ref)
				}
				return v
			})
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "metadata.name":
			out[e.Name] = testPodName
		case e.ValueFrom.FieldRef != nil && e.ValueFrom.FieldRef.FieldPath == "status.podIP":
			out[e.Name] = testPodIP
		default:
			t.Fatalf("%s: %s: teach resolveEnv this source: %+v", where, e.Name, e.ValueFrom)
		}
	}
	return out
}

func distVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "builder-config.yaml"))
	if err != nil {
		t.Fatal(err)
	}
	var bc struct {
		Dist struct {
			Version string `json:"version"`
		} `json:"dist"`
	}
	if err := yaml.Unmarshal(raw, &bc); err != nil || bc.Dist.Version == "" {
		t.Fatalf("builder-config.yaml: no dist.version (%v)", err)
	}
	return bc.Dist.Version
}

// collectorBinary is $OTELCOL_ES_BIN (set by `make test`), else cmd/otelcol-es built into a temporary dir.
func collectorBinary(t *testing.T) string {
	return binary(t, "OTELCOL_ES_BIN", "otelcol-es")
}

// sidecarBinary is the lean sidecar build the sidecar image carries: $OTELCOL_ES_SIDECAR_BIN (set by
// `make test`), else cmd/otelcol-es-sidecar built into a temporary dir.
func sidecarBinary(t *testing.T) string {
	return binary(t, "OTELCOL_ES_SIDECAR_BIN", "otelcol-es-sidecar")
}

func binary(t *testing.T, env, dist string) string {
	t.Helper()
	if bin := os.Getenv(env); bin != "" {
		if _, err := os.Stat(bin); err == nil {
			return bin
		}
	}
	bin := filepath.Join(t.TempDir(), dist)
	cmd := exec.Command("go", "build", "-trimpath", "-o", bin, ".")
	cmd.Dir = filepath.Join("..", "cmd", dist)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("building %s (run `make build build-sidecar` and set %s to reuse one): %v\n%s", dist, env, err, out)
	}
	return bin
}

var requiredEnv = regexp.MustCompile(`\$\{env:([A-Za-z0-9_]+)\}`)

// Every collector in the manifests runs the shipped config it says (verbatim), with every variable that
// config requires, on the image of this release (the sidecar image where the config is config/sidecar.yaml);
// that image's binary validates it with the pod's environment.
func TestKubernetesCollectorConfigsValidate(t *testing.T) {
	full, sidecar := collectorBinary(t), sidecarBinary(t)
	version := distVersion(t)
	for _, m := range loadManifests(t) {
		want, err := os.ReadFile(filepath.Join("..", "config", shippedConfig[m.file]))
		if err != nil {
			t.Fatal(err)
		}
		for _, c := range collectors(t, m) {
			t.Run(c.where, func(t *testing.T) {
				image, bin := "otelcol-es:"+version, full
				if shippedConfig[m.file] == "sidecar.yaml" {
					image, bin = "otelcol-es-sidecar:"+version, sidecar
				}
				if c.image != image {
					t.Errorf("image %s, want %s (dist.version in builder-config.yaml)", c.image, image)
				}
				if c.container != nil && c.config != string(want) {
					t.Errorf("the ConfigMap is not config/%s verbatim: copy it again", shippedConfig[m.file])
				}
				if c.container == nil {
					var wantMap, got map[string]any
					if err := yaml.Unmarshal(want, &wantMap); err != nil {
						t.Fatal(err)
					}
					if err := yaml.Unmarshal([]byte(c.config), &got); err != nil {
						t.Fatal(err)
					}
					if !reflect.DeepEqual(wantMap, got) {
						t.Errorf("spec.config is not config/%s: copy it again", shippedConfig[m.file])
					}
				}
				env := resolveEnv(t, c.where, c.env)
				for _, ref := range requiredEnv.FindAllStringSubmatch(c.config, -1) {
					if env[ref[1]] == "" {
						t.Errorf("the config requires ${env:%s} (no default), the manifest does not set it", ref[1])
					}
				}
				cfg := filepath.Join(t.TempDir(), "config.yaml")
				if err := os.WriteFile(cfg, []byte(c.config), 0o600); err != nil {
					t.Fatal(err)
				}
				cmd := exec.Command(bin, "validate", "--config", cfg)
				cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + os.Getenv("HOME")}
				for k, v := range env {
					cmd.Env = append(cmd.Env, k+"="+v)
				}
				if out, err := cmd.CombinedOutput(); err != nil {
					t.Errorf("otelcol-es validate: %v\n%s", err, out)
				}
			})
		}
	}
}

// The pods can run: probes reach health_check (on the pod IP, where the kubelet connects), named ports exist,
// the durable queue is on the persistent volume, the collector runs as the image's non-root user on a
// read-only root, and Services select a pod and target its ports.
func TestKubernetesPodsWireUp(t *testing.T) {
	for _, m := range loadManifests(t) {
		pvcs := map[string]*corev1.PersistentVolumeClaim{}
		var pods []collectorSpec
		for _, o := range m.objs {
			if pvc, ok := o.(*corev1.PersistentVolumeClaim); ok {
				pvcs[pvc.Name] = pvc
			}
		}
		for _, c := range collectors(t, m) {
			if c.container == nil {
				continue // the operator builds the pod and its probes
			}
			pods = append(pods, c)
			t.Run(c.where, func(t *testing.T) {
				env := resolveEnv(t, c.where, c.env)
				host, port, err := net.SplitHostPort(env["OTELCOL_ES_HEALTH"])
				if err != nil || host != testPodIP {
					t.Errorf("OTELCOL_ES_HEALTH=%q: health_check must listen on the pod IP ($(POD_IP):13133) for the kubelet's probes", env["OTELCOL_ES_HEALTH"])
				}
				for name, p := range map[string]*corev1.Probe{"startup": c.container.StartupProbe, "liveness": c.container.LivenessProbe, "readiness": c.container.ReadinessProbe} {
					if p == nil || p.HTTPGet == nil {
						t.Errorf("no %s probe on health_check", name)
						continue
					}
					if got := portNumber(c.container, p.HTTPGet.Port.String()); got != port || p.HTTPGet.Path != "/" {
						t.Errorf("%s probe: GET %s on port %s, health_check answers GET / on %s", name, p.HTTPGet.Path, got, port)
					}
				}
				sc := c.container.SecurityContext
				if sc == nil || sc.ReadOnlyRootFilesystem == nil || !*sc.ReadOnlyRootFilesystem ||
					sc.AllowPrivilegeEscalation == nil || *sc.AllowPrivilegeEscalation {
					t.Error("the collector container needs readOnlyRootFilesystem: true and allowPrivilegeEscalation: false")
				}
				nonRoot := c.pod.SecurityContext != nil && c.pod.SecurityContext.RunAsNonRoot != nil && *c.pod.SecurityContext.RunAsNonRoot
				if !nonRoot {
					t.Error("the pod needs runAsNonRoot: true")
				}
				if dir := env["OTELCOL_ES_STORAGE_DIR"]; strings.Contains(c.config, "file_storage") {
					if dir == "" {
						t.Fatal("file_storage without OTELCOL_ES_STORAGE_DIR: the queue would go to the image's read-only root")
					}
					onPVC := false
					for _, vm := range c.container.VolumeMounts {
						for _, v := range c.pod.Volumes {
							if v.Name == vm.Name && vm.MountPath == dir && v.PersistentVolumeClaim != nil && pvcs[v.PersistentVolumeClaim.ClaimName] != nil {
								onPVC = true
							}
						}
					}
					if !onPVC {
						t.Errorf("the persistent queue (%s) is not on a PersistentVolumeClaim of this file: a restart would lose it", dir)
					}
				}
			})
		}
		for _, o := range m.objs {
			svc, ok := o.(*corev1.Service)
			if !ok {
				continue
			}
			var target *collectorSpec
			for i := range pods {
				if labels.SelectorFromSet(svc.Spec.Selector).Matches(labels.Set(pods[i].podLabels)) {
					target = &pods[i]
				}
			}
			if target == nil {
				t.Errorf("%s: Service %s selects no pod of this file", m.file, svc.Name)
				continue
			}
			env := resolveEnv(t, target.where, target.env)
			for _, p := range svc.Spec.Ports {
				n := portNumber(target.container, p.TargetPort.String())
				if n == "" {
					t.Errorf("%s: Service %s port %s targets %s, not a port of %s", m.file, svc.Name, p.Name, p.TargetPort.String(), target.where)
					continue
				}
				listening := false
				for k, v := range env {
					if h, lp, err := net.SplitHostPort(v); err == nil && h == testPodIP && lp == n && strings.HasPrefix(k, "OTELCOL_ES_") {
						listening = true
					}
				}
				if !listening && !(n == "8888" && env["OTELCOL_ES_TELEMETRY_HOST"] == testPodIP) {
					t.Errorf("%s: Service %s port %s (%s): no OTELCOL_ES_* listener on the pod IP at that port", m.file, svc.Name, p.Name, n)
				}
			}
		}
	}
}

// Two replicas of the app never write the same series: the app names its instance (service.instance.id from
// the pod name), and its sidecar has the pod name for apps that don't; the app talks to the sidecar's
// loopback OTLP/gRPC port.
func TestKubernetesSidecarIdentity(t *testing.T) {
	for _, m := range loadManifests(t) {
		if shippedConfig[m.file] != "sidecar.yaml" {
			continue
		}
		for _, c := range collectors(t, m) {
			env := resolveEnv(t, c.where, c.env)
			if env["OTELCOL_ES_INSTANCE_ID"] != testPodName {
				t.Errorf("%s: OTELCOL_ES_INSTANCE_ID=%q, want the pod name", c.where, env["OTELCOL_ES_INSTANCE_ID"])
			}
		}
		for _, o := range m.objs {
			d, ok := o.(*appsv1.Deployment)
			if !ok {
				continue
			}
			for _, c := range d.Spec.Template.Spec.Containers {
				if strings.HasPrefix(c.Image, "otelcol-es:") {
					continue
				}
				where := fmt.Sprintf("%s: Deployment %s, container %s", m.file, d.Name, c.Name)
				env := resolveEnv(t, where, c.Env)
				if !slices.Contains(strings.Split(env["OTEL_RESOURCE_ATTRIBUTES"], ","), "service.instance.id="+testPodName) {
					t.Errorf("%s: OTEL_RESOURCE_ATTRIBUTES=%q lacks service.instance.id=<pod name>", where, env["OTEL_RESOURCE_ATTRIBUTES"])
				}
				if env["OTEL_EXPORTER_OTLP_ENDPOINT"] != "http://127.0.0.1:4317" || env["OTEL_EXPORTER_OTLP_PROTOCOL"] != "grpc" {
					t.Errorf("%s: the app must export OTLP/gRPC to the sidecar at http://127.0.0.1:4317", where)
				}
			}
		}
	}
}

// portNumber resolves a probe's or Service's port (a number or a container port name) on a container.
func portNumber(c *corev1.Container, p string) string {
	for _, cp := range c.Ports {
		if cp.Name == p || fmt.Sprint(cp.ContainerPort) == p {
			return fmt.Sprint(cp.ContainerPort)
		}
	}
	return ""
}
