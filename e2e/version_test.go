package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.yaml.in/yaml/v3"
)

// distVersion is dist.version of builder-config.yaml: the release ocb writes into the binary.
func distVersion(t *testing.T) string {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join("..", "builder-config.yaml"))
	require.NoError(t, err)
	var bc struct {
		Dist struct {
			Version string `yaml:"version"`
		} `yaml:"dist"`
	}
	require.NoError(t, yaml.Unmarshal(raw, &bc))
	require.NotEmpty(t, bc.Dist.Version, "builder-config.yaml: dist.version")
	return bc.Dist.Version
}

// The binaries `make build` and `make build-race` write (`make test-race-bin` checks the second) say their release and the commit they were built
// from (-ldflags -X main.version/main.commit). A binary built without the Makefile (go test building its own)
// prints the release only; that case is checked by cmd/otelcol-es's own tests.
func TestVersionCarriesReleaseAndCommit(t *testing.T) {
	release := os.Getenv("OTELCOL_ES_RELEASE_BIN")
	if release == "" {
		t.Skip("OTELCOL_ES_RELEASE_BIN unset: run through `make test` to check the Makefile's binaries")
	}
	version := distVersion(t)
	head := ""
	if out, err := exec.Command("git", "-C", "..", "rev-parse", "--short=12", "HEAD").Output(); err == nil {
		head = strings.TrimSpace(string(out))
	}
	// Without git (a source tarball, a checkout git refuses to read) the Makefile says "unknown"; where git
	// reads this checkout, the Makefile read it too, so only the real commit passes.
	commit := `unknown`
	if head != "" {
		commit = regexp.QuoteMeta(head)
	}
	want := regexp.MustCompile(`^otelcol-es version ` + regexp.QuoteMeta(version) + ` \(commit (` + commit + `)(-dirty)?\)\n$`)
	for _, bin := range []string{release, collectorBin} {
		for _, flag := range []string{"--version", "-v"} {
			out, err := exec.Command(bin, flag).CombinedOutput()
			require.NoError(t, err, string(out))
			assert.Regexpf(t, want, string(out), "%s %s (HEAD %q): built from another commit than HEAD? `make build build-race`", filepath.Base(bin), flag, head)
		}
		// The version flag of a subcommand's position is cobra's business, not the commit hook's.
		out, err := exec.Command(bin, "components").CombinedOutput()
		require.NoError(t, err, string(out))
		assert.Contains(t, string(out), "version: "+version)
	}
}

// The release in builder-config.yaml is the newest in CHANGELOG.md, and the LICENSE is the Apache License 2.0,
// as the collector's.
func TestChangelogAndLicense(t *testing.T) {
	raw, err := os.ReadFile(filepath.Join("..", "CHANGELOG.md"))
	require.NoError(t, err)
	first := regexp.MustCompile(`(?m)^## (.+)$`).FindStringSubmatch(string(raw))
	require.NotNil(t, first, "CHANGELOG.md has no release heading (## ...)")
	assert.Regexp(t, `^v?`+regexp.QuoteMeta(distVersion(t))+`\b`, first[1], "the newest CHANGELOG entry is not dist.version")

	lic, err := os.ReadFile(filepath.Join("..", "LICENSE"))
	require.NoError(t, err)
	text := string(lic)
	assert.True(t, strings.HasPrefix(strings.TrimSpace(text), "Apache License"), "LICENSE: not the Apache License")
	for _, s := range []string{"Version 2.0, January 2004", "http://www.apache.org/licenses/",
		"TERMS AND CONDITIONS FOR USE, REPRODUCTION, AND DISTRIBUTION", "9. Accepting Warranty or Additional Liability.",
		"END OF TERMS AND CONDITIONS", "APPENDIX: How to apply the Apache License to your work."} {
		assert.Contains(t, text, s)
	}
}
