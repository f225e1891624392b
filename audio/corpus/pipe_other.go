//go:build !unix

package corpus

import (
	"context"
	"os/exec"
)

// shellCommand is "sh -c command"; cancelling ctx kills the shell (this
// platform has no process groups to kill a pipeline with).
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	return exec.CommandContext(ctx, "sh", "-c", command)
}

func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return cmd.Process.Kill()
}
