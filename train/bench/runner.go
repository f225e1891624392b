package bench

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"syscall"
)

// A Runner makes measurements one after another, each in a process of its
// own, so that each has a fresh heap and a peak RSS of its own, and
// compares each with the PyTorch reference right after it, back to back,
// so that both see the machine in the same state.
type Runner struct {
	// Command returns the command that makes the measurement name in a
	// process of its own and prints its Result as JSON (see RunProcess);
	// `nextsample bench` runs itself with --child.
	Command func(ctx context.Context, name string) (*exec.Cmd, error)
	// Reference, if its Script is set, measures each after ours (see
	// Reference.Compare).
	Reference Reference
	// Diag receives the reference scripts' diagnostics and the
	// comparisons, as # lines.
	Diag io.Writer
}

// Run makes the measurements names of c and hands each Report to report
// as soon as it is done. It stops at the first error; if ctx is
// cancelled, the error is ctx's.
func (r Runner) Run(ctx context.Context, c *Config, names []string, report func(Report)) error {
	for _, name := range names {
		if err := ctx.Err(); err != nil {
			return err
		}
		cmd, err := r.Command(ctx, name)
		if err != nil {
			return err
		}
		res, err := RunProcess(cmd)
		if err != nil {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return fmt.Errorf("bench %s: %w", name, err)
		}
		rep := Report{Result: res}
		if r.Reference.Script != "" {
			if err := r.Reference.Compare(ctx, c, &rep, r.Diag); err != nil {
				return err
			}
		}
		report(rep)
	}
	return nil
}

// RunProcess runs cmd, a process that makes one measurement and prints
// its Result as JSON on stdout (as `nextsample bench --child --json`
// does), and returns that Result with the peak RSS of the process, which
// is the measurement's own since nothing else ran in it. RunProcess sets
// cmd's Stdout; its Stderr is left as the caller set it.
func RunProcess(cmd *exec.Cmd) (Result, error) {
	var out bytes.Buffer
	cmd.Stdout = &out
	if err := cmd.Run(); err != nil {
		return Result{}, err
	}
	var r Result
	if err := json.Unmarshal(bytes.TrimSpace(out.Bytes()), &r); err != nil {
		return Result{}, fmt.Errorf("child output %q: %w", out.String(), err)
	}
	r.RSSMiB = peakRSSMiB(cmd.ProcessState)
	return r, nil
}

// peakRSSMiB is a finished process's peak resident set size.
func peakRSSMiB(ps *os.ProcessState) float64 {
	if ps == nil {
		return 0
	}
	if ru, ok := ps.SysUsage().(*syscall.Rusage); ok {
		return float64(ru.Maxrss) / 1024 // kilobytes on Linux
	}
	return 0
}
