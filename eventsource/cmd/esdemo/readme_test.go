package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/stretchr/testify/require"
)

// TestReadmeSnippetsBuild compiles eventsource/README.md's quick start (its Go blocks, with the imports the
// README lists) and its distributed setup, as written, into one program: a snippet that no longer builds
// fails here, not in a stranger's editor.
func TestReadmeSnippetsBuild(t *testing.T) {
	readme, err := os.ReadFile(filepath.Join("..", "..", "README.md"))
	require.NoError(t, err)
	text := string(readme)

	section := func(heading string) string {
		i := strings.Index(text, "\n## "+heading)
		require.GreaterOrEqualf(t, i, 0, "README has no section %q", heading)
		rest := text[i+1:]
		if j := strings.Index(rest[3:], "\n## "); j >= 0 {
			rest = rest[:j+3]
		}
		return rest
	}
	goBlocks := regexp.MustCompile("(?s)```go\n(.*?)```")
	var code []string
	for _, heading := range []string{"Quick start", "Distributed and durable"} {
		blocks := goBlocks.FindAllStringSubmatch(section(heading), -1)
		require.NotEmptyf(t, blocks, "no Go block in %q", heading)
		for _, b := range blocks {
			code = append(code, b[1])
		}
	}

	// The imports the quick start lists ("Imports: `context`, ..., `sdktrace "…/otel/sdk/trace"`"), with
	// the README's abbreviations spelled out, plus the distributed setup's buses.
	line := regexp.MustCompile("(?s)\nImports: (.*?)\\. ").FindStringSubmatch(section("Quick start"))
	require.NotNil(t, line, "the quick start lists no imports")
	imports := []string{`"github.com/otelcol-es/otelcol-es/eventsource/kafkabus"`, `"github.com/otelcol-es/otelcol-es/eventsource/rabbitbus"`}
	for _, m := range regexp.MustCompile("`([^`]+)`").FindAllStringSubmatch(line[1], -1) {
		spec := strings.NewReplacer("…/otel/", "go.opentelemetry.io/otel/", "…/eventsource", "github.com/otelcol-es/otelcol-es/eventsource").Replace(m[1])
		if name, path, ok := strings.Cut(spec, " "); ok {
			imports = append(imports, name+" "+path)
		} else {
			imports = append(imports, `"`+spec+`"`)
		}
	}
	src := "package main\n\nimport (\n\t" + strings.Join(imports, "\n\t") + "\n)\n\n" + strings.Join(code, "\n")

	// A module of its own that resolves this repository's modules as esdemo's does.
	dir := t.TempDir()
	gomod, err := os.ReadFile("go.mod")
	require.NoError(t, err)
	here, err := filepath.Abs(".")
	require.NoError(t, err)
	mod := strings.Replace(string(gomod), "module github.com/otelcol-es/otelcol-es/eventsource/cmd/esdemo", "module readmesnippets", 1)
	mod = regexp.MustCompile(`=> (\.\.?/[^\s]*)`).ReplaceAllStringFunc(mod, func(m string) string {
		return "=> " + filepath.Join(here, strings.TrimPrefix(m, "=> "))
	})
	gosum, err := os.ReadFile("go.sum")
	require.NoError(t, err)
	for name, data := range map[string][]byte{"go.mod": []byte(mod), "go.sum": gosum, "main.go": []byte(src)} {
		require.NoError(t, os.WriteFile(filepath.Join(dir, name), data, 0o600))
	}
	cmd := exec.Command("go", "build", "-o", os.DevNull, ".")
	cmd.Dir = dir
	cmd.Env = append(os.Environ(), "GOFLAGS=-mod=mod")
	out, err := cmd.CombinedOutput()
	require.NoErrorf(t, err, "the README's snippets do not build:\n%s\n--- main.go ---\n%s", out, src)
}
