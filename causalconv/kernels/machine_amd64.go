//go:build !purego

package kernels

// detectMachine reads the machine with the assembly cpuid (asm/cpuid.go).
func detectMachine() Machine { return decodeMachine(cpuid) }
