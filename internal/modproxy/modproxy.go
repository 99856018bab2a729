// Package modproxy publishes the modules of this checkout as a file-based Go
// module proxy (GOPROXY=file://DIR), so a test can build against them the way
// someone outside the repository does: by module path and version, with no
// replace directives. A module's files are the ones git tracks or would track
// (untracked files that .gitignore does not exclude count, so uncommitted
// work is tested too); binaries and caches that .gitignore excludes are left
// out, and golang.org/x/mod/zip drops nested modules' files.
package modproxy // import "github.com/otelcol-es/otelcol-es/internal/modproxy"

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"

	"golang.org/x/mod/modfile"
	"golang.org/x/mod/module"
	"golang.org/x/mod/zip"
)

// Module is a module published to the proxy.
type Module struct {
	Path    string // module path, from its go.mod
	Dir     string // directory in the checkout
	Version string
	GoMod   []byte
}

// Publish writes the module rooted at repoRoot/dir into the proxy directory
// proxyDir at version, in the layout the go command reads
// (<path>/@v/list, .info, .mod, .zip). Its requirements of modules under
// ownPrefix (this project's other modules, published beside it) are rewritten
// to version; Module.GoMod is the checkout's go.mod as it is.
func Publish(proxyDir, repoRoot, dir, version, ownPrefix string) (Module, error) {
	modDir := filepath.Join(repoRoot, dir)
	goMod, err := os.ReadFile(filepath.Join(modDir, "go.mod"))
	if err != nil {
		return Module{}, err
	}
	path := modfile.ModulePath(goMod)
	if path == "" {
		return Module{}, fmt.Errorf("modproxy: %s/go.mod has no module line", dir)
	}
	m := Module{Path: path, Dir: dir, Version: version, GoMod: goMod}
	published, err := requireOwnAt(goMod, dir, ownPrefix, version)
	if err != nil {
		return Module{}, err
	}
	escaped, err := module.EscapePath(path)
	if err != nil {
		return Module{}, err
	}
	vdir := filepath.Join(proxyDir, filepath.FromSlash(escaped), "@v")
	if err := os.MkdirAll(vdir, 0o755); err != nil {
		return Module{}, err
	}
	files, err := trackedFiles(modDir)
	if err != nil {
		return Module{}, err
	}
	for i, f := range files {
		if f.Path() == "go.mod" {
			files[i] = contentFile{rel: "go.mod", data: published}
		}
	}
	var buf bytes.Buffer
	if err := zip.Create(&buf, module.Version{Path: path, Version: version}, files); err != nil {
		return Module{}, fmt.Errorf("modproxy: zipping %s: %w", dir, err)
	}
	info, _ := json.Marshal(struct{ Version, Time string }{version, time.Now().UTC().Format(time.RFC3339)})
	for name, data := range map[string][]byte{
		version + ".zip": buf.Bytes(), version + ".mod": published, version + ".info": info, "list": []byte(version + "\n"),
	} {
		if err := os.WriteFile(filepath.Join(vdir, name), data, 0o644); err != nil {
			return Module{}, err
		}
	}
	return m, nil
}

// trackedFiles lists the files under dir that git tracks or would track.
func trackedFiles(dir string) ([]zip.File, error) {
	out, err := exec.Command("git", "-C", dir, "ls-files", "-z", "--cached", "--others", "--exclude-standard").Output()
	if err != nil {
		return nil, fmt.Errorf("modproxy: git ls-files in %s: %w", dir, err)
	}
	var files []zip.File
	for _, rel := range strings.Split(strings.TrimRight(string(out), "\x00"), "\x00") {
		if rel == "" {
			continue
		}
		abs := filepath.Join(dir, filepath.FromSlash(rel))
		if _, err := os.Lstat(abs); err != nil {
			continue // deleted in the work tree but still in the index
		}
		files = append(files, file{rel: rel, abs: abs})
	}
	return files, nil
}

// requireOwnAt returns goMod with every requirement of a module under
// ownPrefix at version.
func requireOwnAt(goMod []byte, dir, ownPrefix, version string) ([]byte, error) {
	f, err := modfile.Parse(dir+"/go.mod", goMod, nil)
	if err != nil {
		return nil, err
	}
	for _, r := range f.Require {
		if ownPrefix != "" && strings.HasPrefix(r.Mod.Path, ownPrefix) {
			if err := f.AddRequire(r.Mod.Path, version); err != nil {
				return nil, err
			}
		}
	}
	return f.Format()
}

// contentFile is a zip entry whose content is given rather than read from disk.
type contentFile struct {
	rel  string
	data []byte
}

func (f contentFile) Path() string { return f.rel }
func (f contentFile) Lstat() (os.FileInfo, error) {
	return contentInfo{name: filepath.Base(f.rel), size: int64(len(f.data))}, nil
}
func (f contentFile) Open() (io.ReadCloser, error) { return io.NopCloser(bytes.NewReader(f.data)), nil }

type contentInfo struct {
	name string
	size int64
}

func (i contentInfo) Name() string       { return i.name }
func (i contentInfo) Size() int64        { return i.size }
func (i contentInfo) Mode() os.FileMode  { return 0o644 }
func (i contentInfo) ModTime() time.Time { return time.Time{} }
func (i contentInfo) IsDir() bool        { return false }
func (i contentInfo) Sys() any           { return nil }

type file struct{ rel, abs string }

func (f file) Path() string                 { return f.rel }
func (f file) Lstat() (os.FileInfo, error)  { return os.Lstat(f.abs) }
func (f file) Open() (io.ReadCloser, error) { return os.Open(f.abs) }
