// Package archtest holds the package map of docs/architecture.md as a test:
// who may import whom inside this module (non-test imports only).
package archtest

import (
	"os/exec"
	"path/filepath"
	"runtime"
	"sort"
	"strings"
	"testing"
)

const module = "github.com/otelcol-es/otelcol-es"

// shared are the packages the components build on: the conventions and the
// parts written once. What is remembered about recent spans is internal/join's:
// the processors reach ringmap's tables only through it; the connector also
// uses ringmap for its exactly-once window, which remembers no span's lineage.
var shared = []string{"eventsource/semconv", "internal/join", "internal/spanattr"}

// mayImport maps a package (and its subtree) to the project packages (and
// subtrees) it may import besides its own subtree. The longest matching
// prefix applies. Packages not listed here are programs and test support
// (cmd/..., e2e, internal/testbed, ...): they may import anything, and no
// component may import them.
var mayImport = map[string][]string{
	"processor/cqrsside":        shared,
	"processor/projectionlag":   shared,
	"processor/cqrsmetricsdrop": {"eventsource/semconv"},
	"connector/spanmetrics-es":  append([]string{"internal/ringmap"}, shared...),
	"internal/join":             {"internal/ringmap"},
	"internal/ringmap":          nil,
	"internal/spanattr":         {"eventsource/semconv"},
	"eventsource/semconv":       nil,
}

// testSupport are packages with non-test files that only tests and programs use.
var testSupport = []string{"internal/testbed", "internal/spangen", "internal/eventsourcepy", "internal/modproxy", "internal/spantest", "internal/spancorpus", "internal/pipelinetest",
	"connector/spanmetrics-es/internal/spanmetricsestest", "connector/spanmetrics-es/internal/testbatch"}

func TestPackageMap(t *testing.T) {
	_, file, _, _ := runtime.Caller(0)
	root := filepath.Join(filepath.Dir(file), "..", "..")
	out, err := exec.Command("go", "-C", root, "list", "-f", "{{.ImportPath}}{{range .Imports}} {{.}}{{end}}", "./...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	checked := 0
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		fields := strings.Fields(line)
		pkg := rel(fields[0])
		rule, ruled := ruleFor(pkg)
		ruled = ruled && !anyWithin(pkg, testSupport) // test support may import anything
		for _, imp := range fields[1:] {
			if imp == module+"/eventsource" || strings.HasPrefix(imp, module+"/eventsource/") && !within(imp, module+"/eventsource/semconv") {
				t.Errorf("%s imports the runtime %s: the collector side may use only its conventions (eventsource/semconv)", pkg, imp)
			}
			if !strings.HasPrefix(imp, module+"/") {
				continue
			}
			dep := rel(imp)
			checked++
			if ruled && !within(dep, rule.owner) && !anyWithin(dep, rule.allowed) {
				t.Errorf("%s imports %s; docs/architecture.md allows it only %v", pkg, dep, rule.allowed)
			}
			if ruled && anyWithin(dep, testSupport) {
				t.Errorf("%s imports the test support package %s", pkg, dep)
			}
		}
	}
	if checked == 0 {
		t.Fatal("go list reported no project imports: the check checked nothing")
	}
}

type rule struct {
	owner   string
	allowed []string
}

func ruleFor(pkg string) (rule, bool) {
	var owners []string
	for owner := range mayImport {
		if within(pkg, owner) {
			owners = append(owners, owner)
		}
	}
	if len(owners) == 0 {
		return rule{}, false
	}
	sort.Slice(owners, func(i, j int) bool { return len(owners[i]) > len(owners[j]) })
	return rule{owner: owners[0], allowed: mayImport[owners[0]]}, true
}

func rel(path string) string { return strings.TrimPrefix(path, module+"/") }

func within(pkg, tree string) bool { return pkg == tree || strings.HasPrefix(pkg, tree+"/") }

func anyWithin(pkg string, trees []string) bool {
	for _, tree := range trees {
		if within(pkg, tree) {
			return true
		}
	}
	return false
}
