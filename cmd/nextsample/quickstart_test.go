package main

import (
	"bufio"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/train"
)

// readmeKernels is the kernel set whose sums the README's quick-start
// figures come from; other sets differ in the last bits.
const readmeKernels = "avx512"

// readmeStepsEnv raises the number of steps TestReadmeQuickStart trains.
const readmeStepsEnv = "NEXTSAMPLE_README_STEPS"

// readmeDefaultSteps is the number of steps TestReadmeQuickStart trains
// unless readmeStepsEnv says otherwise.
const readmeDefaultSteps = 100

var (
	// valLineRE matches a validation line as the README quotes it.
	valLineRE = regexp.MustCompile(`^step (\d+): validation \d+\.\d{4} bits/sample over \d+ samples( \(best\))?  \[uniform \d+\.\d{3}, unigram \d+\.\d{3}\]$`)
	// valTimingRE is the timing that ends a printed validation line.
	valTimingRE = regexp.MustCompile(`  \(\d+\.\ds\)$`)
	// bestLineRE matches the final line of a run.
	bestLineRE = regexp.MustCompile(`^best validation: \d+\.\d{4} bits/sample at step (\d+), \d+\.\d{2} bits (NOT )?below the unigram baseline \(\d+\.\d{3}; uniform \d+\.\d{3}\)$`)
)

// readmeQuickStart holds the figures the README's quick start quotes.
type readmeQuickStart struct {
	val      map[int64]string // validation line by step
	steps    []int64          // the steps of val, in order
	best     string           // the best validation line
	bestStep int64
}

// parseReadmeQuickStart returns the code block of the "## Quick start"
// section of the README at path that holds the validation lines. It fails
// unless there is exactly one such block and all its lines are validation
// lines, in increasing steps, ending with one best validation line.
func parseReadmeQuickStart(t *testing.T, path string) readmeQuickStart {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("README: %v", err)
	}
	var (
		inSection, inBlock bool
		block              []string
		blocks             [][]string
	)
	sc := bufio.NewScanner(strings.NewReader(string(b)))
	for sc.Scan() {
		line := strings.TrimRight(sc.Text(), "\r")
		switch {
		case inBlock && strings.HasPrefix(line, "```"):
			inBlock = false
			blocks = append(blocks, block)
		case inBlock:
			block = append(block, line)
		case strings.HasPrefix(line, "## "):
			inSection = line == "## Quick start"
		case inSection && strings.HasPrefix(line, "```"):
			inBlock, block = true, nil
		}
	}
	var found [][]string
	for _, blk := range blocks {
		for _, l := range blk {
			if strings.HasPrefix(l, "step ") || strings.HasPrefix(l, "best validation:") {
				found = append(found, blk)
				break
			}
		}
	}
	if len(found) != 1 {
		t.Fatalf("%s: want one code block of validation lines in the \"## Quick start\" section, found %d", path, len(found))
	}
	q := readmeQuickStart{val: map[int64]string{}, bestStep: -1}
	for i, l := range found[0] {
		if strings.TrimSpace(l) == "" {
			continue
		}
		if q.best != "" {
			t.Fatalf("%s: quick-start block line %d after the best validation line: %q", path, i+1, l)
		}
		if m := valLineRE.FindStringSubmatch(l); m != nil {
			step, _ := strconv.ParseInt(m[1], 10, 64)
			if n := len(q.steps); n > 0 && step <= q.steps[n-1] {
				t.Fatalf("%s: quick-start block line %d: step %d after step %d", path, i+1, step, q.steps[n-1])
			}
			q.val[step] = l
			q.steps = append(q.steps, step)
			continue
		}
		if m := bestLineRE.FindStringSubmatch(l); m != nil {
			q.best = l
			q.bestStep, _ = strconv.ParseInt(m[1], 10, 64)
			continue
		}
		t.Fatalf("%s: quick-start block line %d is neither a validation line (without its timing) nor the best validation line: %q", path, i+1, l)
	}
	if len(q.steps) == 0 {
		t.Fatalf("%s: the quick-start block has no validation lines", path)
	}
	if q.best == "" {
		t.Fatalf("%s: the quick-start block has no best validation line", path)
	}
	if _, ok := q.val[q.bestStep]; !ok {
		t.Fatalf("%s: the best validation is at step %d, which the block has no validation line for", path, q.bestStep)
	}
	return q
}

// TestReadmeQuickStart checks the figures the README's quick start quotes
// against a run of its first command, `nextsample train` with the default
// flags on the bundled samples/fsdd. By default it trains the first 100
// steps and compares the validation lines up to there; with
// NEXTSAMPLE_README_STEPS=300 it trains the whole run and also compares
// the best validation line. Run the full check with
//
//	NEXTSAMPLE_README_STEPS=300 go test -run TestReadmeQuickStart -v ./cmd/nextsample
//
// The figures are those of the AVX-512 kernel set; on other CPUs the test
// skips, since other sets differ in the last bits.
func TestReadmeQuickStart(t *testing.T) {
	if testing.Short() {
		t.Skip("trains the default model on the bundled samples (about 30 s on 2 cores)")
	}
	if k := kernels.Best().Name; k != readmeKernels {
		t.Skipf("the README's figures are those of the %s kernel set; this CPU's best set is %s, which differs in the last bits", readmeKernels, k)
	}
	q := parseReadmeQuickStart(t, filepath.Join("..", "..", "README.md"))

	def := train.DefaultOptions("")
	// A shorter run must follow the same first steps as the README's
	// run: no warm-up and a constant rate, so that the learning rate
	// does not depend on --steps.
	if def.Warmup != 0 || def.Decay != train.DecayConstant {
		t.Fatalf("the default schedule (warm-up %d, decay %s) depends on --steps; a shorter run does not check the README's", def.Warmup, def.Decay)
	}
	if q.bestStep != def.Steps || q.steps[len(q.steps)-1] != def.Steps {
		t.Fatalf("the README quotes a run of %d steps (best at step %d); the default is %d", q.steps[len(q.steps)-1], q.bestStep, def.Steps)
	}
	steps := int64(readmeDefaultSteps)
	if s := os.Getenv(readmeStepsEnv); s != "" {
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil || n < 1 || n > def.Steps {
			t.Fatalf("%s=%q: want a number of steps from 1 to %d", readmeStepsEnv, s, def.Steps)
		}
		steps = n
	}

	out := t.TempDir()
	code, stdout, stderr := runTrainCLI(t, "train", "--steps", strconv.FormatInt(steps, 10), "--out", out)
	if code != 0 {
		t.Fatalf("nextsample train --steps %d: exit %d\nstdout:\n%s\nstderr:\n%s", steps, code, stdout, stderr)
	}

	printed := map[int64]string{}
	for _, l := range strings.Split(stderr, "\n") {
		if !strings.HasPrefix(l, "step ") || !strings.Contains(l, ": validation ") {
			continue
		}
		l = valTimingRE.ReplaceAllString(l, "")
		m := valLineRE.FindStringSubmatch(l)
		if m == nil {
			t.Fatalf("unexpected validation line: %q", l)
		}
		step, _ := strconv.ParseInt(m[1], 10, 64)
		printed[step] = l
		want, ok := q.val[step]
		switch {
		case ok && l != want:
			t.Errorf("step %d:\n  printed %s\n  README  %s", step, l, want)
		case !ok && step != steps:
			// The last step of a shortened run is validated too; any
			// other validation is one the README should quote.
			t.Errorf("step %d: the run printed %q, which the README does not quote", step, l)
		}
	}
	compared := 0
	for _, step := range q.steps {
		if step > steps {
			break
		}
		compared++
		if _, ok := printed[step]; !ok {
			t.Errorf("step %d: the README quotes %q, but the run printed no validation line for it", step, q.val[step])
		}
	}
	if steps >= q.bestStep {
		var best string
		for _, l := range strings.Split(stdout, "\n") {
			if strings.HasPrefix(l, "best validation:") {
				best = l
			}
		}
		if best != q.best {
			t.Errorf("best validation:\n  printed %s\n  README  %s", best, q.best)
		}
	} else {
		t.Logf("compared %d of the README's %d validation lines (up to step %d); set %s=%d to compare all and the best validation line", compared, len(q.steps), steps, readmeStepsEnv, def.Steps)
	}
	if t.Failed() {
		t.Logf("stderr of the run:\n%s", stderr)
	}
}
