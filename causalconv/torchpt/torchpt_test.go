package torchpt_test

import (
	"bytes"
	"encoding/binary"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
	"github.com/nextsample/nextsample/causalconv/kernels"
	"github.com/nextsample/nextsample/causalconv/modelfile"
	"github.com/nextsample/nextsample/causalconv/safetensors"
	"github.com/nextsample/nextsample/causalconv/torchpt"
)

// The .pt files in testdata were made by the Debian torch with
// testdata/gen_pt.py; small.safetensors holds the same state_dict.

func wantTensors(t *testing.T) *safetensors.File {
	t.Helper()
	sf, err := safetensors.ReadFile("testdata/small.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	return sf
}

func floats(t *testing.T, st safetensors.Tensor) []float32 {
	t.Helper()
	out := make([]float32, st.NumElements())
	if err := st.Float32s(out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestReadsWhatTorchWrites(t *testing.T) {
	want := wantTensors(t)
	cases := []struct {
		file, found, prefix string
		tol                 float64 // relative, for the narrower float types
	}{
		{"small.pt", "", "", 0},
		{"proto4.pt", "", "", 0},
		{"parameters.pt", "", "", 0},
		{"double.pt", "", "", 0},
		{"checkpoint.pt", "model", "", 0},
		{"module_prefix.pt", "", "module.", 0},
		{"half.pt", "", "", 1e-3},
		{"bf16.pt", "", "", 8e-3},
	}
	for _, c := range cases {
		f, err := torchpt.Open(filepath.Join("testdata", c.file))
		if err != nil {
			t.Errorf("%s: %v", c.file, err)
			continue
		}
		if f.Found != c.found || f.StrippedPrefix != c.prefix {
			t.Errorf("%s: found %q prefix %q, want %q %q", c.file, f.Found, f.StrippedPrefix, c.found, c.prefix)
		}
		if len(f.Tensors) != len(want.Tensors) {
			t.Errorf("%s: %d tensors, want %d", c.file, len(f.Tensors), len(want.Tensors))
		}
		for i, w := range want.Tensors {
			if i >= len(f.Tensors) {
				break
			}
			pt := &f.Tensors[i]
			if pt.Name != w.Name || !slices.Equal(pt.Shape, w.Shape) {
				t.Errorf("%s: tensor %d is %s%v, want %s%v", c.file, i, pt.Name, pt.Shape, w.Name, w.Shape)
				continue
			}
			st, err := f.Load(pt)
			if err != nil {
				t.Fatal(err)
			}
			got, exp := floats(t, st), floats(t, w)
			for j := range exp {
				if d := math.Abs(float64(got[j] - exp[j])); d > c.tol*math.Abs(float64(exp[j]))+1e-30 && !(c.tol == 0 && got[j] == exp[j]) {
					t.Errorf("%s: %s[%d] = %g, want %g", c.file, w.Name, j, got[j], exp[j])
					break
				}
			}
		}
		f.Close()
	}
}

func TestViews(t *testing.T) {
	f, err := torchpt.Open("testdata/views.pt")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	base := make([]float32, 24)
	for i := range base {
		base[i] = float32(i)
	}
	at := func(r, c int) float32 { return base[r*6+c] }
	var transposed, rows, column []float32
	for c := 0; c < 6; c++ {
		for r := 0; r < 4; r++ {
			transposed = append(transposed, at(r, c))
		}
	}
	rows = base[6:18]
	for r := 0; r < 4; r++ {
		column = append(column, at(r, 2))
	}
	want := map[string]struct {
		shape []int
		v     []float32
	}{
		"base": {[]int{4, 6}, base}, "transposed": {[]int{6, 4}, transposed}, "rows": {[]int{2, 6}, rows},
		"column": {[]int{4}, column}, "scalar": {[]int{}, []float32{2.5}}, "empty": {[]int{0, 3}, []float32{}},
	}
	for name, w := range want {
		pt := f.Tensor(name)
		if pt == nil {
			t.Fatalf("no tensor %q", name)
		}
		st, err := f.Load(pt)
		if err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(st.Shape, w.shape) || !slices.Equal(floats(t, st), w.v) {
			t.Errorf("%s: %v %v, want %v %v", name, st.Shape, floats(t, st), w.shape, w.v)
		}
	}
	lt := f.Tensor("long")
	st, err := f.Load(lt)
	if err != nil || st.DType != safetensors.I64 {
		t.Fatalf("long: %v %v", st.DType, err)
	}
	got := make([]int64, 5)
	if err := st.Int64s(got); err != nil || !slices.Equal(got, []int64{0, 1, 2, 3, 4}) {
		t.Errorf("long: %v %v", got, err)
	}
}

// pickled builds a torch.save archive around a hand-written pickle, with
// one float32 storage "0" of n elements.
func pickled(pkl string, n int) []byte {
	var buf bytes.Buffer
	torchpt.WriteRawForTest(&buf, []byte(pkl), map[string][]byte{"0": make([]byte, 4*n)})
	return buf.Bytes()
}

// tensorPickle is a state_dict {"w": tensor} whose storage reference and
// shape are the given pickle fragments.
func tensorPickle(numel, shape, stride string) string {
	return "\x80\x02ccollections\nOrderedDict\n)R(X\x01\x00\x00\x00w" +
		"ctorch._utils\n_rebuild_tensor_v2\n((X\x07\x00\x00\x00storagectorch\nFloatStorage\nX\x01\x00\x00\x000X\x03\x00\x00\x00cpu" + numel + "tQK\x00" +
		shape + stride + "\x89ccollections\nOrderedDict\n)RtRu."
}

func TestRefuses(t *testing.T) {
	files := map[string]string{
		"legacy.pt":      "legacy format",
		"evil.pt":        "posix.system",
		"torchscript.pt": "TorchScript",
	}
	for name, want := range files {
		_, err := torchpt.Open(filepath.Join("testdata", name))
		if err == nil || !strings.Contains(err.Error(), want) || !strings.Contains(err.Error(), name) {
			t.Errorf("%s: error %v, want one naming the file and saying %q", name, err, want)
		}
	}
	if _, err := os.Stat("/tmp/torchpt-evil-ran"); err == nil {
		t.Error("evil.pt's payload ran")
	}
	small, err := os.ReadFile("testdata/small.pt")
	if err != nil {
		t.Fatal(err)
	}
	crafted := map[string]struct {
		data []byte
		want string
	}{
		"ok":                {pickled(tensorPickle("K\x06", "K\x02K\x03\x86", "K\x03K\x01\x86"), 6), ""},
		"storage too short": {pickled(tensorPickle("K\x07", "K\x07\x85", "K\x01\x85"), 6), "should hold 7 elements"},
		"shape beyond":      {pickled(tensorPickle("K\x06", "K\x03K\x03\x86", "K\x03K\x01\x86"), 6), "more elements than its storage"},
		"stride beyond":     {pickled(tensorPickle("K\x06", "K\x02K\x03\x86", "K\x04K\x01\x86"), 6), "reaches past its storage"},
		"huge shape":        {pickled(tensorPickle("K\x06", "\x8a\x06\x00\x00\x00\x00\x00\x01K\x01\x86", "K\x01K\x01\x86"), 6), "larger than its storage"},
		"huge numel":        {pickled(tensorPickle("\x8a\x06\x00\x00\x00\x00\x00\x01", "K\x01\x85", "K\x01\x85"), 6), "should hold"},
		"other class":       {pickled("\x80\x02cbuiltins\neval\nX\x01\x00\x00\x001\x85R.", 0), "builtins.eval"},
		"huge string":       {pickled("\x80\x02X\xff\xff\xff\x7fabc.", 0), "only 4 bytes are left"},
		"no stop":           {pickled("\x80\x02}", 0), "without STOP"},
		"not a dict":        {pickled("\x80\x02K\x01.", 0), "not a state_dict"},
		"truncated zip":     {small[:len(small)/2], "not a readable torch.save archive"},
		"not a zip":         {[]byte("hello, world"), "not a PyTorch file"},
	}
	for name, c := range crafted {
		f, err := torchpt.Read(bytes.NewReader(c.data), int64(len(c.data)), name+".pt")
		if c.want == "" {
			if err != nil {
				t.Errorf("%s: %v", name, err)
			} else if _, err := f.Load(&f.Tensors[0]); err != nil {
				t.Errorf("%s: Load: %v", name, err)
			}
			continue
		}
		if err == nil || !strings.Contains(err.Error(), c.want) || !strings.Contains(err.Error(), name+".pt") {
			t.Errorf("%s: error %v, want one naming the file and saying %q", name, err, c.want)
		}
		if err != nil && strings.Contains(err.Error(), "\n") {
			t.Errorf("%s: error spans lines: %q", name, err)
		}
	}
}

func TestWriteReadRoundTrip(t *testing.T) {
	want := wantTensors(t)
	extra := []safetensors.Tensor{
		safetensors.FromInt64("i", []int{2, 2}, []int64{1, -2, 3, 1 << 40}),
		safetensors.FromFloat64("d", []int{}, []float64{math.Pi}),
	}
	ts := append(slices.Clone(want.Tensors), extra...)
	var buf bytes.Buffer
	if err := torchpt.Write(&buf, ts); err != nil {
		t.Fatal(err)
	}
	f, err := torchpt.Read(bytes.NewReader(buf.Bytes()), int64(buf.Len()), "round.pt")
	if err != nil {
		t.Fatal(err)
	}
	if len(f.Tensors) != len(ts) {
		t.Fatalf("%d tensors, want %d", len(f.Tensors), len(ts))
	}
	for i, w := range ts {
		st, err := f.Load(&f.Tensors[i])
		if err != nil {
			t.Fatal(err)
		}
		if st.Name != w.Name || st.DType != w.DType || !slices.Equal(st.Shape, w.Shape) || !bytes.Equal(st.Data, w.Data) {
			t.Errorf("tensor %d: %s %s %v, want %s %s %v", i, st.Name, st.DType, st.Shape, w.Name, w.DType, w.Shape)
		}
	}
	var again bytes.Buffer
	torchpt.Write(&again, ts)
	if !bytes.Equal(buf.Bytes(), again.Bytes()) {
		t.Error("Write is not deterministic")
	}
}

// TestTorchLoadsOurs writes a model as .pt, loads it in PyTorch with
// torch.load(weights_only=True) and a strict load_state_dict into the
// reference WaveNet, and compares PyTorch's logits with ours.
func TestTorchLoadsOurs(t *testing.T) {
	py := "/usr/bin/python3"
	if out, err := exec.Command(py, "-c", "import torch").CombinedOutput(); err != nil {
		t.Skipf("PyTorch is not installed for %s (apt-get install python3-torch): %v %s", py, err, bytes.TrimSpace(out))
	}
	mf, err := modelfile.Load("testdata/small.safetensors")
	if err != nil {
		t.Fatal(err)
	}
	m := mf.Model
	var ts []safetensors.Tensor
	for _, tn := range m.Tensors() {
		ts = append(ts, safetensors.FromFloat32(tn.Name, tn.Shape, m.Params[tn.Offset:tn.Offset+tn.Size]))
	}
	dir := t.TempDir()
	pt := filepath.Join(dir, "ours.pt")
	if err := torchpt.WriteFile(pt, ts); err != nil {
		t.Fatal(err)
	}
	const T = 700
	x := make([]int32, T)
	for i := range x {
		x[i] = int32((i*37 + i*i/7) % m.Config.QuantizationChannels)
	}
	xs := make([]string, T)
	for i, v := range x {
		xs[i] = strconv.Itoa(int(v))
	}
	cfg, _ := modelfile.ConfigJSON(m.Config)
	outPath := filepath.Join(dir, "logits.f32")
	script, _ := filepath.Abs("testdata/torch_logits.py")
	cmd := exec.Command(py, script, pt, cfg, strings.Join(xs, ","), outPath)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
	raw, err := os.ReadFile(outPath)
	if err != nil {
		t.Fatal(err)
	}
	Q := m.Config.QuantizationChannels
	if len(raw) != 4*Q*T {
		t.Fatalf("PyTorch wrote %d bytes, want %d", len(raw), 4*Q*T)
	}
	ws, err := causalconv.NewEvalWorkspace(m.Config, kernels.Best(), T)
	if err != nil {
		t.Fatal(err)
	}
	lg, err := ws.Logits(m.Packed(), x, 0, make([]float32, Q*T))
	if err != nil {
		t.Fatal(err)
	}
	var worst float64
	for q := 0; q < Q; q++ {
		for j := 0; j < T; j++ {
			want := math.Float32frombits(binary.LittleEndian.Uint32(raw[4*(q*T+j):]))
			worst = math.Max(worst, math.Abs(float64(lg.At(q, j)-want)))
		}
	}
	t.Logf("max |logit − PyTorch| = %.2g", worst)
	if worst > 1e-4 {
		t.Errorf("logits differ from PyTorch's by up to %.3g", worst)
	}
}

// TestReferenceCopy checks that train/recipe/wavenet_reference.py still
// holds the reference's WaveNet class verbatim, where ../shared/bench
// exists (it is not needed otherwise).
func TestReferenceCopy(t *testing.T) {
	ref, err := os.ReadFile("../../../shared/bench/torch_wavenet.py")
	if err != nil {
		t.Skipf("no reference to compare with: %v", err)
	}
	cp, err := os.ReadFile("../../train/recipe/wavenet_reference.py")
	if err != nil {
		t.Fatal(err)
	}
	class := func(src []byte) string {
		s := string(src)
		i := strings.Index(s, "class WaveNet(nn.Module):")
		if i < 0 {
			return ""
		}
		s = s[i:]
		if j := strings.Index(s, "\nclass FastGenerator"); j >= 0 {
			s = s[:j]
		}
		return strings.TrimSpace(s)
	}
	if a, b := class(ref), class(cp); a == "" || a != b {
		t.Error("train/recipe/wavenet_reference.py's WaveNet differs from ../shared/bench/torch_wavenet.py's")
	}
}
