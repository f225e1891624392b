package main

import (
	"fmt"

	. "github.com/mmcloughlin/avo/build"
	"github.com/mmcloughlin/avo/ir"
	. "github.com/mmcloughlin/avo/operand"
	. "github.com/mmcloughlin/avo/reg"
)

// # AVX512_BF16 instructions as raw bytes
//
// Neither the Go assembler (as of Go 1.26) nor avo v0.5.0 knows the
// AVX512_BF16 instructions, so the kernels emit them as BYTE directives,
// each preceded by a comment with the mnemonic in AT&T order (what
// `objdump -d` prints for the bytes). Only the register-to-register forms
// are used; memory operands go through ordinary loads and broadcasts,
// which the Go assembler knows. Because the bytes name fixed registers,
// their operands are physical registers (reg.Z0 … reg.Z31) chosen by hand;
// the emitted instruction tells avo which registers it reads and writes,
// so virtual registers elsewhere in a function are allocated around them.
//
// Each appears in the .s file as one line:
//
//	BYTE $0x62; BYTE $0x92; BYTE $0x36; BYTE $0x40; BYTE $0x52; BYTE $0xc0 // vdpbf16ps %zmm24, %zmm25, %zmm0
//
// The EVEX encoding (Intel SDM vol. 2, 2.7) of "op zmm_src2, zmm_src1,
// zmm_dst" with opcode map 0F38 is six bytes:
//
//	0x62
//	P0 = R̄ X̄ B̄ R̄' 0 0 1 0   R, R' = bits 3, 4 of dst; B, X = bits 3, 4 of src2
//	P1 = W v̄v̄v̄v̄ 1 p p       vvvv = bits 0-3 of src1; pp = the implied prefix
//	P2 = z L'L b V̄' a a a     L'L = 10 for zmm (01 ymm); V' = bit 4 of src1
//	opcode
//	ModRM = 11 ddd sss       low three bits of dst and src2
//
// (a bar means the bit is stored inverted). TestEVEX (go test in this
// directory) checks the encoder against the bytes GNU as produces for the
// same instructions, and the kernels' tests check what they compute.

// evexRR returns the EVEX bytes of a register-register instruction in
// opcode map 0F38 with implied prefix pp (1 = 66, 2 = F3, 3 = F2), W0, no
// masking: dst ← op(src1, src2), registers numbered 0–31. ymm selects the
// 256-bit form.
func evexRR(opcode, pp byte, dst, src1, src2 int, ymm bool) [6]byte {
	inv := func(r, bit int) byte { return byte(^r>>bit) & 1 }
	p0 := inv(dst, 3)<<7 | inv(src2, 4)<<6 | inv(src2, 3)<<5 | inv(dst, 4)<<4 | 0b0010
	p1 := byte(^src1&15)<<3 | 1<<2 | pp
	ll := byte(0b10)
	if ymm {
		ll = 0b01
	}
	p2 := ll<<5 | inv(src1, 4)<<3
	modrm := 0xc0 | byte(dst&7)<<3 | byte(src2&7)
	return [6]byte{0x62, p0, p1, p2, opcode, modrm}
}

// emitBytes writes b as six BYTE directives on one line (the Go assembler
// takes ';' between statements), in the order objdump prints them, with
// the mnemonic mn as a comment at the end of the line. inputs and outputs
// are the registers the instruction reads and writes: avo's liveness
// analysis sees them, so virtual registers elsewhere in the function are
// never allocated onto them while they are live.
func emitBytes(b [6]byte, mn string, inputs, outputs []Op) {
	// The whole line is the "opcode" of an instruction without operands,
	// which avo prints verbatim.
	var line string
	for _, x := range b {
		line += fmt.Sprintf("BYTE $0x%02x; ", x)
	}
	line = line[:len(line)-2] + " // " + mn
	Instruction(&ir.Instruction{Opcode: line, Inputs: inputs, Outputs: outputs})
}

// regNum is the number (0–31) of a physical vector register.
func regNum(r Physical) int { return int(r.PhysicalIndex()) }

// vecName is the AT&T name of a physical vector register for comments.
func vecName(r Physical) string {
	if r.Size() == 32 {
		return fmt.Sprintf("%%ymm%d", regNum(r))
	}
	return fmt.Sprintf("%%zmm%d", regNum(r))
}

// VDPBF16PS emits vdpbf16ps src2, src1, dst: for each 32-bit lane i,
//
//	dst[i] += src1.bf16[2i]·src2.bf16[2i] + src1.bf16[2i+1]·src2.bf16[2i+1]
//
// in float32 (the products of bf16 values are exact in float32; Intel
// specifies round-to-nearest-even for the additions, denormal inputs and
// outputs flushed to zero, and no exceptions).
func VDPBF16PS(src2, src1, dst Physical) {
	emitBytes(evexRR(0x52, 2, regNum(dst), regNum(src1), regNum(src2), dst.Size() == 32),
		fmt.Sprintf("vdpbf16ps %s, %s, %s", vecName(src2), vecName(src1), vecName(dst)),
		[]Op{src2, src1, dst}, []Op{dst})
}

// VCVTNE2PS2BF16 emits vcvtne2ps2bf16 src2, src1, dst: dst's low half
// (words 0–15 of a zmm) gets src2 rounded to bf16 (nearest even) and its
// high half src1, so that with src1, src2 = x[16:32], x[0:16] the result
// is x[0:32] in order.
func VCVTNE2PS2BF16(src2, src1, dst Physical) {
	emitBytes(evexRR(0x72, 3, regNum(dst), regNum(src1), regNum(src2), dst.Size() == 32),
		fmt.Sprintf("vcvtne2ps2bf16 %s, %s, %s", vecName(src2), vecName(src1), vecName(dst)),
		[]Op{src2, src1}, []Op{dst})
}

// bf16Peak is fmaPeak with VDPBF16PS: 24 independent accumulators, each
// instruction 16 (zmm) or 8 (ymm) lanes × 2 multiply-adds. Its rate against
// fmaPeak's says what a bf16 GEMM could gain on this CPU.
func bf16Peak(ymm bool) {
	name, vec := "bf16Peak512", func(i int) Physical { return zmm(i) }
	if ymm {
		name, vec = "bf16Peak256", func(i int) Physical { return ymmReg(i) }
	}
	TEXT(name, NOSPLIT, "func(n int)")
	Doc(name + " runs n iterations of 24 independent VDPBF16PS (benchmarks only).")
	n := Load(Param("n"), GP64())
	for i := 0; i < 26; i++ {
		VPXORD(zmm(i), zmm(i), zmm(i))
	}
	Label(name + "_loop")
	for i := 0; i < 24; i++ {
		VDPBF16PS(vec(24), vec(25), vec(i))
	}
	DECQ(n)
	JNZ(LabelRef(name + "_loop"))
	VZEROUPPER()
	RET()
}

var zmmRegs = []Physical{Z0, Z1, Z2, Z3, Z4, Z5, Z6, Z7, Z8, Z9, Z10, Z11, Z12, Z13, Z14, Z15,
	Z16, Z17, Z18, Z19, Z20, Z21, Z22, Z23, Z24, Z25, Z26, Z27, Z28, Z29, Z30, Z31}

var ymmRegs = []Physical{Y0, Y1, Y2, Y3, Y4, Y5, Y6, Y7, Y8, Y9, Y10, Y11, Y12, Y13, Y14, Y15,
	Y16, Y17, Y18, Y19, Y20, Y21, Y22, Y23, Y24, Y25, Y26, Y27, Y28, Y29, Y30, Y31}

// zmm returns physical register Zi.
func zmm(i int) Physical { return zmmRegs[i] }

// ymmReg returns physical register Yi.
func ymmReg(i int) Physical { return ymmRegs[i] }
