//go:build unix && !linux && !race

package ringmap

// adviseHugePages: no such advice here.
func adviseHugePages([]byte) {}
