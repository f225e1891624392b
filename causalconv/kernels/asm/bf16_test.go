package main

import "testing"

// TestEVEX compares evexRR with GNU as (binutils 2.x), which printed these
// bytes for the instructions named:
//
//	echo 'vdpbf16ps %zmm1,%zmm2,%zmm3' | as -o x.o - && objdump -d x.o
func TestEVEX(t *testing.T) {
	for _, c := range []struct {
		asm             string
		opcode, pp      byte
		dst, src1, src2 int
		ymm             bool
		want            [6]byte
	}{
		{"vdpbf16ps %zmm1,%zmm2,%zmm3", 0x52, 2, 3, 2, 1, false, [6]byte{0x62, 0xf2, 0x6e, 0x48, 0x52, 0xd9}},
		{"vdpbf16ps %zmm17,%zmm30,%zmm9", 0x52, 2, 9, 30, 17, false, [6]byte{0x62, 0x32, 0x0e, 0x40, 0x52, 0xc9}},
		{"vdpbf16ps %ymm1,%ymm2,%ymm3", 0x52, 2, 3, 2, 1, true, [6]byte{0x62, 0xf2, 0x6e, 0x28, 0x52, 0xd9}},
		{"vdpbf16ps %zmm31,%zmm16,%zmm24", 0x52, 2, 24, 16, 31, false, [6]byte{0x62, 0x02, 0x7e, 0x40, 0x52, 0xc7}},
		{"vdpbf16ps %zmm8,%zmm15,%zmm23", 0x52, 2, 23, 15, 8, false, [6]byte{0x62, 0xc2, 0x06, 0x48, 0x52, 0xf8}},
		{"vcvtne2ps2bf16 %zmm30,%zmm7,%zmm12", 0x72, 3, 12, 7, 30, false, [6]byte{0x62, 0x12, 0x47, 0x48, 0x72, 0xe6}},
		{"vcvtne2ps2bf16 %zmm1,%zmm2,%zmm3", 0x72, 3, 3, 2, 1, false, [6]byte{0x62, 0xf2, 0x6f, 0x48, 0x72, 0xd9}},
	} {
		if got := evexRR(c.opcode, c.pp, c.dst, c.src1, c.src2, c.ymm); got != c.want {
			t.Errorf("%s: % x, want % x", c.asm, got, c.want)
		}
	}
}
