package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"
)

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

// TestGeneratedEncodings disassembles every raw-byte instruction of the
// generated ../kernels_amd64.s with GNU objdump and compares it with the
// mnemonic in its comment. It skips if objdump is not installed.
func TestGeneratedEncodings(t *testing.T) {
	objdump, err := exec.LookPath("objdump")
	if err != nil {
		t.Skip("objdump not installed")
	}
	src, err := os.ReadFile("../kernels_amd64.s")
	if err != nil {
		t.Fatal(err)
	}
	byteRe := regexp.MustCompile(`BYTE \$0x([0-9a-f]{2})`)
	var code []byte
	var mnemonics []string
	seen := map[string]bool{}
	for _, line := range strings.Split(string(src), "\n") {
		line = strings.TrimSpace(line)
		if !strings.HasPrefix(line, "BYTE ") {
			continue
		}
		enc, mn, ok := strings.Cut(line, " // ")
		if !ok || seen[enc] {
			continue
		}
		seen[enc] = true
		for _, m := range byteRe.FindAllStringSubmatch(enc, -1) {
			b, _ := strconv.ParseUint(m[1], 16, 8)
			code = append(code, byte(b))
		}
		mnemonics = append(mnemonics, strings.ReplaceAll(mn, ", ", ","))
	}
	if len(mnemonics) == 0 {
		t.Fatal("no raw-byte instructions in ../kernels_amd64.s")
	}
	bin := filepath.Join(t.TempDir(), "code.bin")
	if err := os.WriteFile(bin, code, 0o644); err != nil {
		t.Fatal(err)
	}
	out, err := exec.Command(objdump, "-D", "-b", "binary", "-m", "i386:x86-64", bin).Output()
	if err != nil {
		t.Fatalf("objdump: %v", err)
	}
	insnRe := regexp.MustCompile(`^\s+[0-9a-f]+:\t[0-9a-f ]+\t(.*)$`)
	var got []string
	for _, line := range strings.Split(string(out), "\n") {
		if m := insnRe.FindStringSubmatch(line); m != nil {
			got = append(got, strings.Join(strings.Fields(m[1]), " "))
		}
	}
	if len(got) != len(mnemonics) {
		t.Fatalf("objdump decoded %d instructions from %d encodings:\n%s", len(got), len(mnemonics), out)
	}
	for i := range got {
		if got[i] != mnemonics[i] {
			t.Errorf("encoding %d: objdump says %q, the comment %q", i, got[i], mnemonics[i])
		}
	}
	t.Logf("%d distinct encodings checked", len(got))
}
