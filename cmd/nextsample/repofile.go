package main

import (
	"os"
	"path/filepath"
	"strings"
)

// findRepoFile looks for the file rel (a path inside the repository) in the
// current directory and its parents, then beside the executable and its
// parents (so commands work from anywhere inside a checkout, and from a
// binary built into or next to it). The path is relative to the current
// directory when it lies below it.
func findRepoFile(rel string) (string, bool) {
	var starts []string
	if wd, err := os.Getwd(); err == nil {
		starts = append(starts, wd)
	}
	if exe, err := os.Executable(); err == nil {
		if exe, err := filepath.EvalSymlinks(exe); err == nil {
			starts = append(starts, filepath.Dir(exe))
		}
	}
	for _, dir := range starts {
		for {
			p := filepath.Join(dir, rel)
			if st, err := os.Stat(p); err == nil && !st.IsDir() {
				if r, err := filepath.Rel(mustGetwd(), p); err == nil && !strings.HasPrefix(r, "..") {
					return r, true
				}
				return p, true
			}
			parent := filepath.Dir(dir)
			if parent == dir {
				break
			}
			dir = parent
		}
	}
	return "", false
}
