package bench

import (
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// TestWriteHeader: the options, this machine and the variants, each on a
// line starting with "#".
func TestWriteHeader(t *testing.T) {
	c, err := ParseConfig([]byte(tinyConfig))
	if err != nil {
		t.Fatal(err)
	}
	var b strings.Builder
	if err := WriteHeader(&b, c, c.Resolve(Options{})); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(b.String(), "\n"), "\n")
	want := []string{
		"# nextsample bench kernels=" + kernels.Best().Name + " precision=fp32 threads=1 statistic=median config=built-in (reference config.json)",
		"# machine: " + kernels.DetectMachine().String(),
		"# variant tiny: receptive_field=",
		"# variant tinyk3: receptive_field=",
	}
	if len(lines) != len(want) {
		t.Fatalf("%d lines, want %d:\n%s", len(lines), len(want), b.String())
	}
	for i, w := range want {
		if !strings.HasPrefix(lines[i], w) {
			t.Errorf("line %d: %q, want it to start with %q", i+1, lines[i], w)
		}
	}
	t.Logf("\n%s", b.String())
}
