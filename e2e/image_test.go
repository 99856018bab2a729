package e2e

import (
	"context"
	"crypto/x509"
	"debug/elf"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	tb "github.com/otelcol-es/otelcol-es/internal/testbed"
)

// The image's user, as the Dockerfile sets it and the Kubernetes manifests run it.
const imageUser = "10001:10001"

// TestImage builds the container image with `make image` (buildah, FROM scratch), checks its configuration,
// and runs its root filesystem (buildah mount) with chroot as the image's user, with the image's environment
// only: the collector starts on its embedded default config, listens on 0.0.0.0 as the image says, answers
// health checks, takes OTLP and serves the CQRS metrics. Containers can't be run with podman on these
// machines; buildah and chroot need root (CI runs as root). OTELCOL_ES_SKIP_IMAGE_TEST=1 skips it elsewhere.
func TestImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	root := tb.RepoRoot()
	version := distVersion(t)
	image := os.Getenv("OTELCOL_ES_IMAGE")
	if image == "" {
		image = "localhost/otelcol-es:" + version
	}
	cfg, rootfs := buildImage(ctx, t, "image", image)
	assert.Equal(t, []string{"/otelcol-es"}, cfg.Entrypoint)
	assert.Empty(t, cfg.Cmd, "no arguments: the embedded default config")
	for _, p := range []string{"4317/tcp", "4318/tcp", "8889/tcp", "8888/tcp", "13133/tcp"} {
		assert.Contains(t, cfg.ExposedPorts, p)
	}
	assert.Equal(t, version, cfg.Labels["org.opencontainers.image.version"])
	assert.Equal(t, "Apache-2.0", cfg.Labels["org.opencontainers.image.licenses"])
	commit := cfg.Labels["org.opencontainers.image.revision"]
	// `make image` just ran in this checkout: where git reads it, the label is HEAD's commit (-dirty with
	// uncommitted changes); "unknown" only without git.
	if head, err := exec.Command("git", "-C", root, "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		assert.Regexp(t, `^`+regexp.QuoteMeta(strings.TrimSpace(string(head)))+`(-dirty)?$`, commit, "the commit label: HEAD")
	} else {
		assert.Equal(t, "unknown", commit, "the commit label without git")
	}
	env := map[string]string{}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		env[k] = v
	}
	for _, k := range []string{"OTELCOL_ES_OTLP_GRPC", "OTELCOL_ES_OTLP_HTTP", "OTELCOL_ES_PROMETHEUS", "OTELCOL_ES_HEALTH"} {
		assert.Truef(t, strings.HasPrefix(env[k], "0.0.0.0:"), "the image sets %s=0.0.0.0:<port>, got %q", k, env[k])
	}
	assert.Equal(t, "0.0.0.0", env["OTELCOL_ES_TELEMETRY_HOST"])

	ports, runEnv := imageEnv(t, cfg)
	ver := exec.CommandContext(ctx, "chroot", "--userspec="+imageUser, rootfs, cfg.Entrypoint[0], "--version")
	ver.Env = runEnv
	out, err := ver.CombinedOutput()
	require.NoError(t, err, string(out))
	assert.Equal(t, fmt.Sprintf("otelcol-es version %s (commit %s)\n", version, commit), string(out))

	col := startImage(t, rootfs, cfg, runEnv, ports)
	status, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", col.Process.Pid))
	require.NoError(t, err)
	uid := regexp.MustCompile(`(?m)^Uid:\s+(\d+)`).FindSubmatch(status)
	require.NotNil(t, uid)
	assert.Equal(t, strings.Split(imageUser, ":")[0], string(uid[1]), "the collector runs as the image's user")
	for _, k := range []string{"OTELCOL_ES_OTLP_GRPC", "OTELCOL_ES_PROMETHEUS", "OTELCOL_ES_HEALTH"} {
		assert.Truef(t, listensOnAll(t, col.Process.Pid, ports[k]), "%s: port %s is not bound to 0.0.0.0", k, ports[k])
	}

	c := &tb.Collector{GRPC: "127.0.0.1:" + ports["OTELCOL_ES_OTLP_GRPC"]}
	tb.Send(ctx, t, c, tb.GRPC, tb.WithFreshIDs(tb.LoadTraces(t, "cqrs-conventions-traces.json")))
	tb.WaitForValue(ctx, t, "http://127.0.0.1:"+ports["OTELCOL_ES_PROMETHEUS"]+"/metrics", 90*time.Second, "cqrs_command_total",
		map[string]string{"command_type": "PlaceOrder", "command_status": "success"}, 2)
	tel, err := tb.Scrape(ctx, "http://127.0.0.1:"+ports["OTELCOL_ES_TELEMETRY_PORT"]+"/metrics")
	require.NoError(t, err)
	assert.True(t, tel.Has("otelcol_receiver_accepted_spans"), "the collector's own metrics")
}

// imageEnv is the image's environment with every OTELCOL_ES_* listener moved to a free port on the host the
// image sets, plus a free telemetry port: the ports by variable, and the environment for the process.
func imageEnv(t *testing.T, cfg imageConfig) (map[string]string, []string) {
	t.Helper()
	runEnv := []string{}
	ports := map[string]string{}
	for _, kv := range cfg.Env {
		k, v, _ := strings.Cut(kv, "=")
		if host, _, err := net.SplitHostPort(v); err == nil && strings.HasPrefix(k, "OTELCOL_ES_") {
			ports[k] = tb.Port(tb.ReservedAddr(t))
			v = net.JoinHostPort(host, ports[k])
		}
		runEnv = append(runEnv, k+"="+v)
	}
	ports["OTELCOL_ES_TELEMETRY_PORT"] = tb.Port(tb.ReservedAddr(t))
	runEnv = append(runEnv, "OTELCOL_ES_TELEMETRY_PORT="+ports["OTELCOL_ES_TELEMETRY_PORT"])

	return ports, runEnv
}

// startImage runs the image's entrypoint (and args) in rootfs with chroot as the image's user, with env and
// nothing else, stops it at the end of the test, and waits until its health_check answers 200.
func startImage(t *testing.T, rootfs string, cfg imageConfig, env []string, ports map[string]string, args ...string) *exec.Cmd {
	t.Helper()
	col := exec.Command("chroot", append(append([]string{"--userspec=" + imageUser, rootfs}, cfg.Entrypoint...), args...)...)
	col.Env = env
	colOut := &tb.SyncBuffer{}
	col.Stdout, col.Stderr = colOut, colOut
	require.NoError(t, col.Start())
	t.Cleanup(func() {
		_ = col.Process.Signal(syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = col.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(20 * time.Second):
			_ = col.Process.Kill()
		}
		if t.Failed() {
			t.Logf("otelcol-es (image) output:\n%s", colOut.String())
		}
	})

	health := "http://127.0.0.1:" + ports["OTELCOL_ES_HEALTH"] + "/"
	require.Eventually(t, func() bool {
		resp, err := http.Get(health)
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == http.StatusOK
	}, 60*time.Second, 200*time.Millisecond, "health_check never answered 200 at %s", health)

	return col
}

// imageConfig is the part of an image's OCI configuration the tests read.
type imageConfig struct {
	User         string              `json:"User"`
	Env          []string            `json:"Env"`
	Entrypoint   []string            `json:"Entrypoint"`
	Cmd          []string            `json:"Cmd"`
	ExposedPorts map[string]struct{} `json:"ExposedPorts"`
	Labels       map[string]string   `json:"Labels"`
}

// buildImage runs `make <target> IMAGE=<image>` (buildah), checks what every otelcol-es image is (linux, the
// non-root user, FROM scratch: the static binary and the CA bundle only), and returns the image's
// configuration and its root filesystem (buildah mount), with /proc and /sys mounted as a container runtime
// would give them (memory_limiter reads its cgroup's limit there). It skips with OTELCOL_ES_SKIP_IMAGE_TEST=1
// and fails without root or buildah.
func buildImage(ctx context.Context, t *testing.T, target, image string) (imageConfig, string) {
	t.Helper()
	if os.Getenv("OTELCOL_ES_SKIP_IMAGE_TEST") == "1" {
		t.Skip("OTELCOL_ES_SKIP_IMAGE_TEST=1")
	}
	if os.Geteuid() != 0 {
		t.Fatal("building and running the image needs root (buildah, chroot); set OTELCOL_ES_SKIP_IMAGE_TEST=1 to skip")
	}
	if _, err := exec.LookPath("buildah"); err != nil {
		t.Fatal("this test needs buildah: `apt-get install -y buildah` (Debian); .ci/run installs it")
	}
	out, err := retryTransient(t, 3, func() ([]byte, error) {
		build := exec.CommandContext(ctx, "make", "-C", tb.RepoRoot(), "--no-print-directory", target,
			"IMAGE="+image, "SIDECAR_IMAGE="+image)
		build.Env = withoutEnv(os.Environ(), "MAKEFLAGS", "MAKELEVEL", "MFLAGS")
		return build.CombinedOutput()
	})
	require.NoError(t, err, "make %s:\n%s", target, out)

	out, err = exec.CommandContext(ctx, "buildah", "inspect", "--type", "image", image).Output()
	require.NoError(t, err)
	var inspect struct {
		OCIv1 struct {
			OS     string      `json:"os"`
			Config imageConfig `json:"config"`
		} `json:"OCIv1"`
	}
	require.NoError(t, json.Unmarshal(out, &inspect))
	assert.Equal(t, "linux", inspect.OCIv1.OS)
	assert.Equal(t, imageUser, inspect.OCIv1.Config.User, "a non-root user")

	ctr, err := exec.CommandContext(ctx, "buildah", "from", "--pull=never", image).Output()
	require.NoError(t, err)
	name := strings.TrimSpace(string(ctr))
	t.Cleanup(func() { _ = exec.Command("buildah", "rm", name).Run() })
	mnt, err := exec.CommandContext(ctx, "buildah", "mount", name).Output()
	require.NoError(t, err)
	rootfs := strings.TrimSpace(string(mnt))
	t.Cleanup(func() { _ = exec.Command("buildah", "umount", name).Run() })

	var files []string
	require.NoError(t, filepath.Walk(rootfs, func(p string, fi os.FileInfo, err error) error {
		if err == nil && !fi.IsDir() {
			rel, _ := filepath.Rel(rootfs, p)
			files = append(files, rel)
		}
		return err
	}))
	assert.ElementsMatch(t, []string{"otelcol-es", "etc/ssl/certs/ca-certificates.crt"}, files, "FROM scratch: the binary and the CA bundle only")
	bin, err := elf.Open(filepath.Join(rootfs, "otelcol-es"))
	require.NoError(t, err)
	for _, p := range bin.Progs {
		assert.NotEqual(t, elf.PT_INTERP, p.Type, "the binary asks for a dynamic loader: build it with CGO_ENABLED=0")
	}
	bin.Close()
	pem, err := os.ReadFile(filepath.Join(rootfs, "etc/ssl/certs/ca-certificates.crt"))
	require.NoError(t, err)
	assert.True(t, x509.NewCertPool().AppendCertsFromPEM(pem), "the CA bundle holds no certificate")
	for _, d := range []string{"proc", "sys"} {
		mountInto(t, "/"+d, filepath.Join(rootfs, d))
	}
	return inspect.OCIv1.Config, rootfs
}

// transientBuildah matches the storage races buildah reports when other buildah or podman processes use the
// same container storage at once (containers/buildah#5674, #966: "layer not known"; a locked database or
// lock file): the same build then succeeds on a retry. Anything else (a compile error, a Dockerfile error)
// is a finding and is not retried.
var transientBuildah = regexp.MustCompile(`layer not known|database is locked|resource temporarily unavailable|acquiring lock|locking .*: file exists`)

// retryTransient runs run up to attempts times while it fails with transient buildah output, and returns
// the last result.
func retryTransient(t *testing.T, attempts int, run func() ([]byte, error)) ([]byte, error) {
	t.Helper()
	for i := 1; ; i++ {
		out, err := run()
		if err == nil || i == attempts || !transientBuildah.Match(out) {
			return out, err
		}
		t.Logf("attempt %d of %d failed with a transient storage error, retrying: %v\n%s", i, attempts, err, out)
	}
}

// listensOnAll reports whether the process has a TCP socket listening on all addresses at port: 0.0.0.0 in
// /proc/<pid>/net/tcp, or [::] in tcp6 (Go listens dual-stack on "0.0.0.0:port" where IPv6 is up).
func listensOnAll(t *testing.T, pid int, port string) bool {
	t.Helper()
	p, err := strconv.Atoi(port)
	require.NoError(t, err)
	for file, any := range map[string]string{"tcp": "00000000", "tcp6": strings.Repeat("0", 32)} {
		raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/net/%s", pid, file))
		if err != nil {
			continue
		}
		want := fmt.Sprintf("%s:%04X", any, p)
		for _, line := range strings.Split(string(raw), "\n")[1:] {
			f := strings.Fields(line)
			if len(f) > 3 && f[1] == want && f[3] == "0A" { // 0A: LISTEN
				return true
			}
		}
	}
	return false
}

// mountInto bind-mounts src read-only onto dst (created) until the test ends.
func mountInto(t *testing.T, src, dst string) {
	t.Helper()
	require.NoError(t, os.MkdirAll(dst, 0o755))
	for _, args := range [][]string{{"--bind", src, dst}, {"-o", "remount,bind,ro", dst}} {
		out, err := exec.Command("mount", args...).CombinedOutput()
		require.NoError(t, err, "mount %v: %s", args, out)
	}
	t.Cleanup(func() {
		if out, err := exec.Command("umount", "--lazy", dst).CombinedOutput(); err != nil {
			t.Errorf("umount %s: %v: %s", dst, err, out)
		}
	})
}

func withoutEnv(env []string, names ...string) []string {
	var out []string
	for _, kv := range env {
		k, _, _ := strings.Cut(kv, "=")
		keep := true
		for _, n := range names {
			keep = keep && k != n
		}
		if keep {
			out = append(out, kv)
		}
	}
	return out
}

// The image build is retried only on buildah's transient storage errors, and at most the given times.
func TestRetryTransient(t *testing.T) {
	fail := errors.New("exit status 125")
	for _, tc := range []struct {
		name  string
		outs  []string // one per run; "" succeeds
		runs  int
		fails bool
	}{
		{"success at once", []string{""}, 1, false},
		{"a transient error, then success", []string{"Error: committing the finished image: layer not known", ""}, 2, false},
		{"transient every time: bounded", []string{"database is locked", "database is locked", "database is locked", ""}, 3, true},
		{"a real error is not retried", []string{"main.go:3:1: syntax error", ""}, 1, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			runs := 0
			_, err := retryTransient(t, 3, func() ([]byte, error) {
				out := tc.outs[runs]
				runs++
				if out == "" {
					return nil, nil
				}
				return []byte(out), fail
			})
			assert.Equal(t, tc.runs, runs)
			assert.Equal(t, tc.fails, err != nil)
		})
	}
}

// sidecarImageBudget is what the sidecar image may weigh (its two files): the performance issue's 50 MB.
const sidecarImageBudget = 50_000_000

// TestSidecarImage builds the sidecar image (`make image-sidecar`: the lean build of builder-sidecar.yaml in
// the same FROM scratch layout) and runs it as deploy/kubernetes/sidecar.yaml does: config/sidecar.yaml
// mounted at /etc/otelcol-es/config.yaml, the backend named by OTELCOL_ES_BACKEND. It weighs at most 50 MB,
// starts, takes the app's spans on the image's listeners and sends the backend the CQRS metrics it derives.
func TestSidecarImage(t *testing.T) {
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	image := "localhost/otelcol-es-sidecar:" + distVersion(t)
	cfg, rootfs := buildImage(ctx, t, "image-sidecar", image)
	assert.Equal(t, "otelcol-es-sidecar", cfg.Labels["org.opencontainers.image.title"])
	var size int64
	for _, f := range []string{"otelcol-es", "etc/ssl/certs/ca-certificates.crt"} {
		fi, err := os.Stat(filepath.Join(rootfs, f))
		require.NoError(t, err)
		size += fi.Size()
	}
	t.Logf("sidecar image: %.1f MB", float64(size)/1e6)
	assert.LessOrEqual(t, size, int64(sidecarImageBudget), "the sidecar image's files")

	// The config goes where the Kubernetes manifest mounts it (buildah's mount is writable; the container is
	// removed at the end of the test).
	conf, err := os.ReadFile(filepath.Join("..", "config", "sidecar.yaml"))
	require.NoError(t, err)
	require.NoError(t, os.MkdirAll(filepath.Join(rootfs, "etc", "otelcol-es"), 0o755))
	require.NoError(t, os.WriteFile(filepath.Join(rootfs, "etc", "otelcol-es", "config.yaml"), conf, 0o644))

	backend := startOTLPBackend(t)
	ports, env := imageEnv(t, cfg)
	env = append(env, "OTELCOL_ES_BACKEND="+backend.addr, "OTELCOL_ES_INSTANCE_ID=orders-0")
	startImage(t, rootfs, cfg, env, ports, "--config=/etc/otelcol-es/config.yaml")

	c := &tb.Collector{GRPC: "127.0.0.1:" + ports["OTELCOL_ES_OTLP_GRPC"]}
	tb.Send(ctx, t, c, tb.GRPC, tb.WithFreshIDs(tb.LoadTraces(t, "cqrs-conventions-traces.json")))
	require.Eventually(t, func() bool {
		for key := range backend.derivedCQRS() {
			if strings.HasPrefix(key, "cqrs.command.total") {
				return true
			}
		}
		return false
	}, 90*time.Second, 200*time.Millisecond, "the backend never got cqrs.command.total from the sidecar image")
}
