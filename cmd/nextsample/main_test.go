package main

import (
	"fmt"
	"os"
	"testing"
)

// cleanups run after all tests (removing binaries built for them).
var cleanups []func()

// TestMain keeps the class caches of the tests' training runs out of the
// user's cache directory.
func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "nextsample-cache-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	os.Setenv("NEXTSAMPLE_CACHE_DIR", dir)
	code := m.Run()
	for _, f := range cleanups {
		f()
	}
	os.RemoveAll(dir)
	os.Exit(code)
}
