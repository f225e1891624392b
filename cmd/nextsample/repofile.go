package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/urfave/cli/v2"
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

// BundledModel is the base model that ships with the repository (issue 24):
// the default network trained on all the speech of ../shared/data by
// train/recipe/base_model.sh; its card is samples/base/README.md.
// features, generate and eval use it when --model is not given.
const BundledModel = "samples/base/model.safetensors"

// modelPath returns the model file of a command: --model if given, else
// the bundled base model (found as findRepoFile finds the bundled
// samples), saying so on stderr (cmd names the command there). Without
// either it is an error naming the flag and where the bundled model was
// looked for, for the caller to prefix with the command.
func modelPath(c *cli.Context, cmd string) (string, error) {
	if c.IsSet("model") {
		return c.String("model"), nil
	}
	p, ok := findRepoFile(BundledModel)
	if !ok {
		return "", fmt.Errorf("give --model FILE (the bundled base model %s is not in the current directory's checkout or beside the executable)", BundledModel)
	}
	fmt.Fprintf(c.App.ErrWriter, "%s: no --model given: using the bundled base model %s (see %s)\n",
		cmd, p, filepath.Join(filepath.Dir(p), "README.md"))
	return p, nil
}
