package main

import (
	. "github.com/mmcloughlin/avo/build"
	. "github.com/mmcloughlin/avo/reg"
)

// # CPUID
//
// cpuid is the one instruction the package needs to tell the kinds of
// machine apart (../machine.go decodes what it returns: the vendor string
// of leaf 0 and the family and model of leaf 1). golang.org/x/sys/cpu
// reads CPUID too but keeps the vendor, family and model to itself.
//
// CPUID takes the leaf in EAX and the subleaf in ECX and writes EAX, EBX,
// ECX and EDX; the function pins those four physical registers, so avo
// allocates nothing here. It does not touch memory or the stack (NOSPLIT,
// no frame).
func cpuid() {
	TEXT("cpuid", NOSPLIT, "func(eax, ecx uint32) (a, b, c, d uint32)")
	Doc("cpuid executes CPUID with leaf eax and subleaf ecx and returns EAX, EBX, ECX and EDX.")
	Load(Param("eax"), EAX)
	Load(Param("ecx"), ECX)
	CPUID()
	Store(EAX, Return("a"))
	Store(EBX, Return("b"))
	Store(ECX, Return("c"))
	Store(EDX, Return("d"))
	RET()
}
