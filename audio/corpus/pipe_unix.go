//go:build unix

package corpus

import (
	"context"
	"os/exec"
	"syscall"
)

// shellCommand is "/bin/sh -c command" in a process group of its own;
// cancelling ctx kills the whole group, so no part of a pipeline outlives
// it.
func shellCommand(ctx context.Context, command string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, "/bin/sh", "-c", command)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return killGroup(cmd) }
	return cmd
}

// killGroup kills the process group that cmd leads.
func killGroup(cmd *exec.Cmd) error {
	if cmd.Process == nil {
		return nil
	}
	return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
}
