package main

import (
	"fmt"
	"os"
	"testing"
)

// cleanups run after all tests (removing binaries built for them).
var cleanups []func()

// TestMain keeps the class caches of the tests' training runs out of the
// user's cache directory. With NEXTSAMPLE_TEST_MAIN=1 in its environment
// the test binary is the nextsample command instead (see
// commandProcess), for tests that need a process of their own: to send
// it signals, say.
func TestMain(m *testing.M) {
	if os.Getenv("NEXTSAMPLE_TEST_MAIN") == "1" {
		main()
		return
	}
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
