//go:build !purego

package kernels

import (
	"testing"

	"golang.org/x/sys/cpu"
)

// TestDetectMachineAgrees checks the assembly cpuid against
// golang.org/x/sys/cpu, which reads the same bits (and besides checks
// that the OS enables the registers: a feature it reports must be in
// CPUID, not always the other way).
func TestDetectMachineAgrees(t *testing.T) {
	m := DetectMachine()
	if m.Vendor == "" || m.Family == 0 {
		t.Errorf("no vendor or family read: %+v", m)
	}
	if cpu.X86.HasAVX512F && !m.AVX512 {
		t.Errorf("x/sys/cpu reports AVX512F, CPUID leaf 7 as read does not: %+v", m)
	}
	if cpu.X86.HasAVX512BF16 && !m.BF16 {
		t.Errorf("x/sys/cpu reports AVX512_BF16, CPUID leaf 7 subleaf 1 as read does not: %+v", m)
	}
}
