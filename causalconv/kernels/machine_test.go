package kernels

import (
	"strings"
	"testing"
)

// fakeCPU answers CPUID from a table of (leaf, subleaf) → EAX, EBX, ECX,
// EDX; leaves not in it read as zeros.
type fakeCPU map[[2]uint32][4]uint32

func (f fakeCPU) cpuid(leaf, subleaf uint32) (a, b, c, d uint32) {
	r := f[[2]uint32{leaf, subleaf}]
	return r[0], r[1], r[2], r[3]
}

// vendorRegs returns the vendor string as CPUID leaf 0 returns it:
// characters 0–3 in EBX, 4–7 in EDX, 8–11 in ECX, little-endian.
func vendorRegs(v string) (b, c, d uint32) {
	word := func(s string) uint32 {
		return uint32(s[0]) | uint32(s[1])<<8 | uint32(s[2])<<16 | uint32(s[3])<<24
	}
	return word(v[0:4]), word(v[8:12]), word(v[4:8])
}

// newFakeCPU is a CPU of vendor, processor signature sig (leaf 1 EAX) and
// the leaf 7 bits AVX512F (subleaf 0 EBX bit 16) and AVX512_BF16
// (subleaf 1 EAX bit 5).
func newFakeCPU(vendor string, sig uint32, avx512, bf16 bool) fakeCPU {
	b, c, d := vendorRegs(vendor)
	f := fakeCPU{
		{0, 0}: {0x10, b, c, d},
		{1, 0}: {sig, 0, 0, 0},
		{7, 0}: {1, 0, 0, 0},
	}
	if avx512 {
		f[[2]uint32{7, 0}] = [4]uint32{1, 1 << 16, 0, 0}
	}
	if bf16 {
		f[[2]uint32{7, 1}] = [4]uint32{1 << 5, 0, 0, 0}
	}
	return f
}

// TestDecodeMachine decodes the raw CPUID values of the CPUs the kernels
// were measured on, and of some they were not.
func TestDecodeMachine(t *testing.T) {
	for _, c := range []struct {
		name           string
		cpu            fakeCPU
		family, model  int
		kind           Kind
		bf16Faster     bool
		stringContains string
	}{
		// EPYC 9004 (Genoa): base family 0xF + extended 0xA, model 0x11.
		{"zen4", newFakeCPU("AuthenticAMD", 0x00A10F11, true, true), 0x19, 0x11, KindZen4, true, "AuthenticAMD family 25 model 17 (AVX-512 FMAs issue as two 256-bit halves"},
		// EPYC 9005 (Turin): base family 0xF + extended 0xB = 0x1A, model 2.
		{"zen5", newFakeCPU("AuthenticAMD", 0x00B00F20, true, true), 0x1A, 0x02, KindZen5, true, "AuthenticAMD family 26 model 2 (full-width AVX-512; bf16 dot products at twice"},
		// Xeon, Emerald Rapids: family 6, extended model 0xC, model 0xF, stepping 2.
		{"emr", newFakeCPU("GenuineIntel", 0x000C06F2, true, true), 6, 0xCF, KindIntelAVX512, false, "GenuineIntel family 6 model 207 (full-width AVX-512; bf16 dot products at half the fp32 FMA rate)"},
		// Sapphire Rapids: family 6 model 0x8F.
		{"spr", newFakeCPU("GenuineIntel", 0x000806F8, true, true), 6, 0x8F, KindIntelAVX512, false, "model 143 (full-width AVX-512; bf16"},
		// Skylake-SP: AVX-512 without AVX512_BF16.
		{"skx", newFakeCPU("GenuineIntel", 0x00050654, true, false), 6, 0x55, KindIntelAVX512, false, "model 85 (full-width AVX-512; no AVX512_BF16)"},
		// EPYC 7003 (Milan, Zen 3): family 0x19 model 1, no AVX-512.
		{"zen3", newFakeCPU("AuthenticAMD", 0x00A00F11, false, false), 0x19, 0x01, KindOther, true, "family 25 model 1 (not a kind the kernels were measured on; no AVX-512)"},
		// Zen 4 under a hypervisor that hides AVX-512.
		{"zen4 hidden", newFakeCPU("AuthenticAMD", 0x00A10F11, false, false), 0x19, 0x11, KindOther, true, "no AVX-512"},
		// EPYC 7002 (Rome, Zen 2): family 0x17 model 0x31.
		{"zen2", newFakeCPU("AuthenticAMD", 0x00830F10, false, false), 0x17, 0x31, KindOther, true, "family 23 model 49"},
		// Hygon Dhyana: family 0x18.
		{"hygon", newFakeCPU("HygonGenuine", 0x00900F01, false, false), 0x18, 0x00, KindOther, true, "HygonGenuine family 24 model 0"},
		// An old family (5): no extended fields applied.
		{"pentium", newFakeCPU("GenuineIntel", 0x000F0543, false, false), 5, 4, KindOther, true, "family 5 model 4"},
	} {
		t.Run(c.name, func(t *testing.T) {
			m := decodeMachine(c.cpu.cpuid)
			if m.Family != c.family || m.Model != c.model || m.Kind != c.kind {
				t.Errorf("family %#x model %#x kind %s, want family %#x model %#x kind %s", m.Family, m.Model, m.Kind, c.family, c.model, c.kind)
			}
			if got := m.BF16Faster(); got != c.bf16Faster {
				t.Errorf("BF16Faster() = %v, want %v", got, c.bf16Faster)
			}
			if s := m.String(); !strings.Contains(s, c.stringContains) || strings.Contains(s, "\n") {
				t.Errorf("String() = %q, want one line containing %q", s, c.stringContains)
			}
		})
	}
}

// TestDecodeMachineLowLeaves: a CPU whose highest leaf is 0 reports its
// vendor only (leaves 1 and 7 are not read).
func TestDecodeMachineLowLeaves(t *testing.T) {
	cpu := newFakeCPU("GenuineIntel", 0x000C06F2, true, true)
	cpu[[2]uint32{0, 0}] = [4]uint32{0, cpu[[2]uint32{0, 0}][1], cpu[[2]uint32{0, 0}][2], cpu[[2]uint32{0, 0}][3]}
	m := decodeMachine(cpu.cpuid)
	if m.Vendor != "GenuineIntel" || m.Family != 0 || m.AVX512 || m.Kind != KindOther {
		t.Errorf("%+v", m)
	}
}

// TestDetectMachine reads this machine: whatever it is, DetectMachine
// does not panic and describes it on one line.
func TestDetectMachine(t *testing.T) {
	m := DetectMachine()
	s := m.String()
	if s == "" || strings.Contains(s, "\n") {
		t.Fatalf("String() = %q", s)
	}
	if m != DetectMachine() {
		t.Errorf("DetectMachine changed between calls")
	}
	t.Logf("%s: kind %s (%s), BF16Faster %v", s, m.Kind, m.Kind.Describe(), m.BF16Faster())
}

func TestKindString(t *testing.T) {
	for k, want := range map[Kind]string{KindOther: "other", KindZen4: "zen4", KindZen5: "zen5", KindIntelAVX512: "intel-avx512", 99: "other"} {
		if k.String() != want || k.Describe() == "" {
			t.Errorf("Kind(%d): %q (%q), want %q", k, k, k.Describe(), want)
		}
	}
}
