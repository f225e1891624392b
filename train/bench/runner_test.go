package bench

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os/exec"
	"strings"
	"testing"
)

// TestRunner runs measurements in fake child processes (shell commands
// that print a Result's JSON) and compares them with a fake reference:
// the reports come in order, with the children's peak RSS and the
// reference's figures; a child that prints no JSON, and a cancelled
// context, stop the run.
func TestRunner(t *testing.T) {
	cfg, err := ParseConfig([]byte(tinyAdamConfig))
	if err != nil {
		t.Fatal(err)
	}
	fp32 := fakeReference(t, t.TempDir(), "torch_wavenet.py", `echo "gen_fast_tiny,100.00,0.115"`)
	var ran []string
	child := func(ctx context.Context, name string) (*exec.Cmd, error) {
		ran = append(ran, name)
		out := fmt.Sprintf(`{"name":%q,"samples_per_s":1000,"gflops":1.15,"n":3,"unit_samples":1}`, name)
		if name == "gen_naive_tiny" {
			out = "not JSON"
		}
		return exec.CommandContext(ctx, "/bin/sh", "-c", "echo '"+out+"'"), nil
	}
	var diag bytes.Buffer
	r := Runner{Command: child, Reference: Reference{Python: "/bin/sh", Script: fp32}, Diag: &diag}
	var reports []Report
	report := func(rep Report) { reports = append(reports, rep) }

	if err := r.Run(context.Background(), cfg, []string{"gen_fast_tiny", "features_tiny"}, report); err != nil {
		t.Fatal(err)
	}
	if len(reports) != 2 || reports[0].Name != "gen_fast_tiny" || reports[1].Name != "features_tiny" {
		t.Fatalf("reports %+v", reports)
	}
	if g := reports[0]; g.Ratio != 10 || g.RefSamplesPerS != 100 || !(g.RSSMiB > 0) || !(g.RefRSSMiB > 0) || g.N != 3 {
		t.Errorf("gen_fast_tiny: %+v", g)
	}
	if f := reports[1]; f.RefSamplesPerS != 0 || !(f.RSSMiB > 0) {
		t.Errorf("features_tiny: %+v", f)
	}
	if !strings.Contains(diag.String(), "# gen_fast_tiny: ours 1000.0 samples/s") {
		t.Errorf("diagnostics:\n%s", diag.String())
	}

	ran, reports = nil, nil
	err = r.Run(context.Background(), cfg, []string{"gen_naive_tiny", "gen_fast_tiny"}, report)
	if err == nil || !strings.HasPrefix(err.Error(), "bench gen_naive_tiny: child output") || len(reports) != 0 || len(ran) != 1 {
		t.Errorf("a child without JSON: %v, %d reports, ran %q", err, len(reports), ran)
	}

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	ran = nil
	if err := r.Run(ctx, cfg, []string{"gen_fast_tiny"}, report); !errors.Is(err, context.Canceled) || len(ran) != 0 {
		t.Errorf("cancelled: %v, ran %q", err, ran)
	}
}
