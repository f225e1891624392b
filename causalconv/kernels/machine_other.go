//go:build !amd64 || purego

package kernels

// detectMachine without CPUID: an unknown machine.
func detectMachine() Machine { return Machine{Kind: KindOther} }
