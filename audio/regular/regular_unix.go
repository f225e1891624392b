//go:build unix

package regular

import (
	"os"
	"syscall"
)

const nonblock = syscall.O_NONBLOCK

// clearNonblock puts f's descriptor back in blocking mode, as os.Open
// leaves it.
func clearNonblock(f *os.File) error {
	rc, err := f.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	err = rc.Control(func(fd uintptr) { ferr = syscall.SetNonblock(int(fd), false) })
	if err != nil {
		return err
	}
	return ferr
}
