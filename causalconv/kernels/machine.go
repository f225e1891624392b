package kernels

import (
	"fmt"
	"sync"
)

// # Kinds of machine
//
// The kernels run on several kinds of x86 core whose vector units differ
// in ways that matter to them (the peaks per core, measured with
// BenchmarkFMAPeak and BenchmarkBF16Peak; see the package doc):
//
//	zen4          AMD family 25 (0x19)     zmm FMA = 2 ymm FMAs: fp32 ≈115, bf16 ≈227 GFLOP/s
//	zen5          AMD family 26 (0x1A)     full-width 512-bit:   fp32 ≈245, bf16 ≈505 GFLOP/s
//	intel-avx512  Intel with AVX-512       full-width fp32 (zmm ≈172, ymm ≈85) but
//	                                       VDPBF16PS at half of it: bf16 ≈84 GFLOP/s
//
// DetectMachine tells them apart from CPUID. The kernels themselves are
// the same on all of them (sets_amd64.go says where a per-kind choice
// would go); what differs is advice, such as whether bf16 pays
// (Machine.BF16Faster).

// Kind is a kind of machine, as far as the kernels' choices go.
type Kind uint8

const (
	// KindOther is any machine not measured: another vendor or family, a
	// CPU without AVX-512 (or whose hypervisor hides it), another
	// architecture, or a build without assembly (-tags purego).
	KindOther Kind = iota
	// KindZen4 is AMD family 25 (0x19) with AVX-512, Zen 4 (EPYC 9004
	// "Genoa" and its relatives): a 512-bit FMA issues as two 256-bit
	// halves, so zmm and ymm FMAs peak alike (≈115 GFLOP/s per core), and
	// VDPBF16PS runs at twice the fp32 FMA rate (≈227). Family 25 without
	// AVX-512 is Zen 3, KindOther.
	KindZen4
	// KindZen5 is AMD family 26 (0x1A) with AVX-512, Zen 5 (EPYC 9005
	// "Turin" measured: model 2): full-width 512-bit FMAs (fp32 ≈245
	// GFLOP/s per core) and VDPBF16PS at twice that (≈505). (AMD's mobile
	// Zen 5 parts are said to issue 512-bit operations as two halves;
	// bf16 is twice fp32 either way.)
	KindZen5
	// KindIntelAVX512 is an Intel CPU with AVX-512, measured on family 6
	// model 207 (0xCF, Emerald Rapids, AMX not exposed): full-width zmm
	// FMAs (≈172 GFLOP/s per core, ymm ≈85), but VDPBF16PS at half the
	// fp32 FMA rate (zmm ≈84), so bf16 matrix products are slower than
	// fp32 ones. Other Intel AVX-512 CPUs are assumed to be alike.
	KindIntelAVX512
)

// String returns the kind's short name: "zen4", "zen5", "intel-avx512"
// or "other".
func (k Kind) String() string {
	switch k {
	case KindZen4:
		return "zen4"
	case KindZen5:
		return "zen5"
	case KindIntelAVX512:
		return "intel-avx512"
	}
	return "other"
}

// Describe says in a few words what sets the kind apart.
func (k Kind) Describe() string {
	switch k {
	case KindZen4:
		return "512-bit FMAs as two 256-bit halves"
	case KindZen5:
		return "full-width 512-bit"
	case KindIntelAVX512:
		return "full-width fp32, bf16 at half the fp32 rate (Sapphire/Emerald Rapids without AMX)"
	}
	return "not a kind the kernels were measured on"
}

// Machine is the CPU the program runs on, as CPUID describes it.
type Machine struct {
	// Vendor is the vendor string of CPUID leaf 0: "AuthenticAMD",
	// "GenuineIntel", …; "" when CPUID was not read (not amd64, or
	// -tags purego).
	Vendor string
	// Family and Model are the display family and model (decoded with
	// the extended fields as the AMD and Intel manuals say): 25 and 17
	// for an EPYC 9004, 6 and 207 for an Emerald Rapids Xeon.
	Family, Model int
	// AVX512 and BF16 report the AVX-512 F and AVX512_BF16 feature bits
	// of CPUID leaf 7 (what the CPU has; whether the OS enables the
	// registers is golang.org/x/sys/cpu's check, which chooses the
	// kernel sets).
	AVX512, BF16 bool
	// Kind is the kind of machine, from the above.
	Kind Kind
}

// String describes m on one line, for logs:
//
//	GenuineIntel family 6 model 207 (full-width AVX-512; bf16 dot products at half the fp32 FMA rate)
func (m Machine) String() string {
	if m.Vendor == "" {
		return "unknown machine (CPUID not read: not amd64, or built with -tags purego)"
	}
	var what string
	switch m.Kind {
	case KindZen4:
		what = "AVX-512 FMAs issue as two 256-bit halves; bf16 dot products at twice the fp32 FMA rate"
	case KindZen5:
		what = "full-width AVX-512; bf16 dot products at twice the fp32 FMA rate"
	case KindIntelAVX512:
		what = "full-width AVX-512; bf16 dot products at half the fp32 FMA rate"
		if !m.BF16 {
			what = "full-width AVX-512; no AVX512_BF16"
		}
	default:
		what = "not a kind the kernels were measured on"
		if !m.AVX512 {
			what += "; no AVX-512"
		}
	}
	return fmt.Sprintf("%s family %d model %d (%s)", m.Vendor, m.Family, m.Model, what)
}

// BF16Faster reports whether bf16 matrix products (VDPBF16PS, the
// kernels' GemmNNBF16 and GemmNTBF16, precision bf16 in training) are
// expected to be faster than fp32 ones on m. It comes from the peaks
// measured with BenchmarkFMAPeak and BenchmarkBF16Peak on each kind: true
// on zen4 and zen5 (VDPBF16PS at twice the FMA rate), false on
// intel-avx512 (at half of it; training with bf16 measured 52K timesteps/s
// there against 78K with fp32). On a kind not measured it is true: the
// feature flag is trusted, as a CPU that implements AVX512_BF16 at all
// does so to be faster than fp32. It says nothing about whether m can run
// bf16 at all; causalconv.CheckPrecision does.
func (m Machine) BF16Faster() bool {
	return m.Kind != KindIntelAVX512
}

var detected = sync.OnceValue(detectMachine)

// DetectMachine returns the machine the program runs on, read with CPUID
// once. Without CPUID (other architectures, -tags purego) it is an
// unknown machine of KindOther.
func DetectMachine() Machine { return detected() }

// cpuidFunc executes CPUID with a leaf and a subleaf and returns EAX, EBX,
// ECX and EDX.
type cpuidFunc func(leaf, subleaf uint32) (a, b, c, d uint32)

// decodeMachine reads the machine from CPUID leaves 0 (vendor, highest
// leaf), 1 (family and model) and 7 (feature bits).
func decodeMachine(cpuid cpuidFunc) Machine {
	maxLeaf, b, c, d := cpuid(0, 0)
	var m Machine
	vendor := make([]byte, 0, 12)
	for _, r := range []uint32{b, d, c} {
		vendor = append(vendor, byte(r), byte(r>>8), byte(r>>16), byte(r>>24))
	}
	m.Vendor = string(vendor)
	if maxLeaf >= 1 {
		sig, _, _, _ := cpuid(1, 0)
		m.Family, m.Model = decodeSignature(sig)
	}
	if maxLeaf >= 7 {
		maxSub, b7, _, _ := cpuid(7, 0)
		m.AVX512 = b7&(1<<16) != 0 // AVX512F
		if maxSub >= 1 {
			a71, _, _, _ := cpuid(7, 1)
			m.BF16 = a71&(1<<5) != 0 // AVX512_BF16
		}
	}
	m.Kind = kindOf(m)
	return m
}

// decodeSignature returns the display family and model of the processor
// signature in EAX of CPUID leaf 1: stepping in bits 0–3, model 4–7,
// family 8–11, extended model 16–19, extended family 20–27. As the AMD
// and Intel manuals define them, the family is the base family plus the
// extended one when the base is 0xF, and the model has the extended model
// as its high nibble when the base family is 6 or 0xF.
func decodeSignature(eax uint32) (family, model int) {
	base := int(eax>>8) & 0xF
	model = int(eax>>4) & 0xF
	family = base
	if base == 0xF {
		family += int(eax>>20) & 0xFF
	}
	if base == 6 || base == 0xF {
		model += (int(eax>>16) & 0xF) << 4
	}
	return family, model
}

// kindOf classifies a decoded machine.
func kindOf(m Machine) Kind {
	if !m.AVX512 {
		return KindOther
	}
	switch {
	case m.Vendor == "AuthenticAMD" && m.Family == 0x19:
		return KindZen4
	case m.Vendor == "AuthenticAMD" && m.Family == 0x1A:
		return KindZen5
	case m.Vendor == "GenuineIntel":
		return KindIntelAVX512
	}
	return KindOther
}
