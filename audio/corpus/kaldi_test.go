package corpus

import (
	"context"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nextsample/nextsample/audio"
)

// synth is n samples of a deterministic noisy tone with a DC offset and
// a level that changes, so that DC removal and normalization differ
// between segments.
func synth(n int, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, 1))
	x := make([]float32, n)
	for i := range x {
		level := 0.1 + 0.4*float64(i)/float64(n)
		v := 0.05 + level*(0.6*math.Sin(float64(i)*0.07*float64(seed+1))+0.4*(r.Float64()*2-1))
		x[i] = float32(math.Round(v*32767) / 32768) // exact in 16 bits
	}
	return x
}

func writeText(t testing.TB, path, text string) {
	t.Helper()
	if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
}

// writeStereo writes a 16-bit two-channel WAV file of the frames l, r.
func writeStereo(t *testing.T, path string, l, r []float32, rate int) {
	t.Helper()
	var b strings.Builder
	data := 4 * len(l)
	le := func(v uint32, n int) {
		for i := range n {
			b.WriteByte(byte(v >> (8 * i)))
		}
	}
	b.WriteString("RIFF")
	le(uint32(36+data), 4)
	b.WriteString("WAVEfmt ")
	le(16, 4)
	le(1, 2)
	le(2, 2)
	le(uint32(rate), 4)
	le(uint32(rate*4), 4)
	le(4, 2)
	le(16, 2)
	b.WriteString("data")
	le(uint32(data), 4)
	for i := range l {
		le(uint32(uint16(int16(math.Round(float64(l[i])*32768)))), 2)
		le(uint32(uint16(int16(math.Round(float64(r[i])*32768)))), 2)
	}
	writeText(t, path, b.String())
}

// writeSphere writes a NIST SPHERE file of 16-bit little-endian PCM.
func writeSphere(t *testing.T, path string, x []float32, rate int) {
	t.Helper()
	head := fmt.Sprintf("NIST_1A\n   1024\nsample_count -i %d\nsample_n_bytes -i 2\nchannel_count -i 1\n"+
		"sample_byte_format -s2 01\nsample_rate -i %d\nsample_coding -s3 pcm\nend_head\n", len(x), rate)
	var b strings.Builder
	b.WriteString(head)
	b.WriteString(strings.Repeat(" ", 1024-len(head)))
	for _, v := range x {
		s := uint16(int16(math.Round(float64(v) * 32768)))
		b.WriteByte(byte(s))
		b.WriteByte(byte(s >> 8))
	}
	writeText(t, path, b.String())
}

func quote(p string) string { return "'" + strings.ReplaceAll(p, "'", `'\''`) + "'" }

// decodeCounter counts decodes per recording and channel through
// testHookDecode.
type decodeCounter struct {
	mu sync.Mutex
	n  map[string]int
}

func countDecodes(t *testing.T) *decodeCounter {
	c := &decodeCounter{n: map[string]int{}}
	testHookDecode = func(e Entry) {
		c.mu.Lock()
		c.n[fmt.Sprintf("%s/%d", e.Source.Recording, e.Source.Channel)]++
		c.mu.Unlock()
	}
	t.Cleanup(func() { testHookDecode = nil })
	return c
}

func (c *decodeCounter) take() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := c.n
	c.n = map[string]int{}
	return n
}

// kaldiFixture is a data directory whose wav.scp mixes plain paths
// (absolute and relative to the current directory), a stereo file cut by
// channel, and pipe entries (cat always; sox and flac when installed),
// with segments, utt2spk and text; and a manifest of the same utterances
// cut into separate WAV files in Go.
type kaldiFixture struct {
	dir, manifest string
	utts          int
	pipeCount     string // a file the cat pipe appends a line to per run
	recordings    map[string]int
}

func makeKaldiFixture(t *testing.T) kaldiFixture {
	t.Helper()
	root := t.TempDir()
	audioDir := filepath.Join(root, "audio")
	cutDir := filepath.Join(root, "cut")
	for _, d := range []string{audioDir, cutDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(root, "data", "train_clean")
	const rate = 8000
	type rec struct {
		id, entry string
		samples   []float32 // as decoded, per channel chosen below
		right     []float32 // second channel of the stereo recording
	}
	var recs []rec
	add := func(id string, n int, seed uint64) string {
		x := synth(n, seed)
		p := filepath.Join(audioDir, id+".wav")
		if err := audio.WriteFile(p, x, rate, audio.PCM16); err != nil {
			t.Fatal(err)
		}
		recs = append(recs, rec{id: id, entry: p, samples: x})
		return p
	}
	add("recA", 24000, 1)
	pb := add("recB", 17001, 2)
	cwd, _ := os.Getwd()
	if rel, err := filepath.Rel(cwd, pb); err == nil {
		recs[len(recs)-1].entry = rel // relative to the current directory, as Kaldi reads it
	}
	l, r := synth(20000, 3), synth(20000, 4)
	ps := filepath.Join(audioDir, "recS.wav")
	writeStereo(t, ps, l, r, rate)
	recs = append(recs, rec{id: "recS", entry: ps, samples: l, right: r})
	pp := add("recP", 16000, 5)
	count := filepath.Join(root, "pipe-count")
	recs[len(recs)-1].entry = fmt.Sprintf("echo run >> %s; cat %s |", quote(count), quote(pp))
	if _, err := exec.LookPath("sox"); err == nil {
		px := add("recX", 12000, 6)
		recs[len(recs)-1].entry = fmt.Sprintf("sox %s -t wav - |", quote(px))
	}
	if _, err := exec.LookPath("flac"); err == nil {
		pf := add("recF", 14000, 7)
		flac := filepath.Join(audioDir, "recF.flac")
		if out, err := exec.Command("flac", "-s", "-f", "-o", flac, pf).CombinedOutput(); err != nil {
			t.Fatalf("flac: %v: %s", err, out)
		}
		os.Remove(pf)
		recs[len(recs)-1].entry = fmt.Sprintf("flac -c -d -s %s |", quote(flac))
		// FLAC itself, as a path and on a pipe, once package audio reads it.
		if _, err := audio.ReadFile(flac, audio.DecodeOptions{}); err == nil {
			recs = append(recs, rec{id: "recG", entry: flac, samples: recs[len(recs)-1].samples})
			pw := add("recH", 9000, 8)
			recs[len(recs)-1].entry = fmt.Sprintf("flac -c -s %s |", quote(pw))
		} else {
			t.Logf("no FLAC entries: %v", err)
		}
	}
	// NIST SPHERE, as a path and on a pipe, once package audio reads it.
	sph := filepath.Join(audioDir, "recT.sph")
	xt := synth(11000, 9)
	writeSphere(t, sph, xt, rate)
	if _, err := audio.ReadFile(sph, audio.DecodeOptions{}); err == nil {
		recs = append(recs, rec{id: "recT", entry: sph, samples: xt}, rec{id: "recU", entry: "cat " + quote(sph) + " |", samples: xt})
	} else {
		t.Logf("no SPHERE entries: %v", err)
	}

	// Segments: fractional times that truncate, overlaps, an end of -1, an
	// end clipped within the 0.5 s tolerance, the stereo channels.
	type seg struct {
		utt, rec   string
		start, end string
		channel    string
	}
	var segs []seg
	for _, r := range recs {
		n := len(r.samples)
		secs := float64(n) / rate
		segs = append(segs,
			seg{r.id + "-a", r.id, "0", "0.51237", ""},
			seg{r.id + "-b", r.id, "0.50001", "1.2", ""},
			seg{r.id + "-c", r.id, "1.000063", "-1", ""},
			seg{r.id + "-d", r.id, strconv.FormatFloat(secs-0.7, 'f', -1, 64), strconv.FormatFloat(secs+0.4999, 'f', -1, 64), ""},
		)
		if r.right != nil {
			segs = append(segs, seg{r.id + "-e", r.id, "0.3", "1.9", "1"}, seg{r.id + "-f", r.id, "0.3", "1.9", "0"})
		}
	}
	var wavScp, segments, utt2spk, text, manifest strings.Builder
	manifest.WriteString("path,speaker,label\n")
	for i := len(recs) - 1; i >= 0; i-- { // unsorted on purpose
		fmt.Fprintf(&wavScp, "%s %s\n", recs[i].id, recs[i].entry)
	}
	byID := map[string]rec{}
	for _, r := range recs {
		byID[r.id] = r
	}
	for i, s := range segs {
		fmt.Fprintf(&segments, "%s %s %s %s %s\n", s.utt, s.rec, s.start, s.end, s.channel)
		spk := fmt.Sprintf("spk%d", i%3)
		fmt.Fprintf(&utt2spk, "%s %s\n", s.utt, spk)
		label := fmt.Sprintf("WORD%d  AND more", i)
		fmt.Fprintf(&text, "%s %s\n", s.utt, label)

		// The same cut, made independently of the package's code.
		r := byID[s.rec]
		x := r.samples
		switch s.channel {
		case "1":
			x = r.right
		case "":
			if r.right != nil {
				x = make([]float32, len(r.samples))
				for j := range x {
					x[j] = float32((float64(r.samples[j]) + float64(r.right[j])) / 2)
				}
			}
		}
		start, _ := strconv.ParseFloat(s.start, 64)
		end, _ := strconv.ParseFloat(s.end, 64)
		a, b := int(start*rate), len(x)
		if end != -1 {
			b = min(int(end*rate), len(x))
		}
		p := filepath.Join(cutDir, s.utt+".wav")
		if err := audio.WriteFile(p, x[a:b], rate, audio.Float32); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&manifest, "%s,%s,%q\n", filepath.Base(p), spk, label)
	}
	writeText(t, filepath.Join(dir, WavScp), wavScp.String())
	writeText(t, filepath.Join(dir, Segments), segments.String())
	writeText(t, filepath.Join(dir, Utt2Spk), utt2spk.String())
	writeText(t, filepath.Join(dir, Text), text.String())
	writeText(t, filepath.Join(dir, "spk2utt"), "not read\n")
	m := filepath.Join(cutDir, "manifest.csv")
	writeText(t, m, manifest.String())
	f := kaldiFixture{dir: dir, manifest: m, utts: len(segs), pipeCount: count, recordings: map[string]int{}}
	for _, s := range segs {
		f.recordings[s.rec+"/"+map[string]string{"": "0", "0": "1", "1": "2"}[s.channel]] = 1
	}
	return f
}

// TestKaldiMatchesCutWAVs: a data directory gives bit for bit the samples
// of a manifest of its utterances cut into WAV files, under several
// settings and thread counts, and decodes each recording once.
func TestKaldiMatchesCutWAVs(t *testing.T) {
	f := makeKaldiFixture(t)
	kc, err := Open(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	mc, err := Open(f.manifest)
	if err != nil {
		t.Fatal(err)
	}
	if len(kc.Entries) != f.utts || !slices.Equal(keys(kc.Entries), keys(mc.Entries)) {
		t.Fatalf("keys %q, want %q", keys(kc.Entries), keys(mc.Entries))
	}
	for i, e := range kc.Entries {
		if m := mc.Entries[i]; e.Speaker != m.Speaker || e.Label != m.Label {
			t.Errorf("%s: speaker %q label %q, want %q %q", e.Key, e.Speaker, e.Label, m.Speaker, m.Label)
		}
		if !e.Pipe() && e.Info.Frames != mc.Entries[i].Info.Frames {
			t.Errorf("%s: %d frames indexed, the cut file has %d", e.Key, e.Info.Frames, mc.Entries[i].Info.Frames)
		}
	}
	rms := audio.DefaultSettings()
	rms.Normalize, rms.TrimDB, rms.RemoveDC = audio.NormalizeRMS, -30, false
	up := audio.DefaultSettings()
	up.SampleRate, up.Resample = 16000, true
	second := audio.DefaultSettings()
	second.Channel = 2
	counter := countDecodes(t)
	for name, s := range map[string]audio.Settings{"default": audio.DefaultSettings(), "rms+trim": rms, "resample": up} {
		want, wantReps, err := LoadSamples(context.Background(), mc.Entries, s, 3)
		if err != nil {
			t.Fatal(err)
		}
		counter.take()
		os.Remove(f.pipeCount)
		for _, threads := range []int{1, 2, 3} {
			got, reps, err := LoadSamples(context.Background(), kc.Entries, s, threads)
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			for i, e := range kc.Entries {
				if !slices.Equal(got[i], want[i]) {
					t.Fatalf("%s, %d threads: %s: %d samples differ from the cut file's %d", name, threads, e.Key, len(got[i]), len(want[i]))
				}
				if r, w := reps[i], wantReps[i]; r.Samples != w.Samples || r.Gain != w.Gain || r.DC != w.DC || r.Info.Frames != w.Info.Frames || r.TrimmedStart != w.TrimmedStart {
					t.Errorf("%s: report %+v, want %+v", e.Key, r, w)
				}
			}
			if n := counter.take(); len(n) != len(f.recordings) || slices.ContainsFunc(slices.Collect(mapValues(n)), func(v int) bool { return v != 1 }) {
				t.Errorf("%s, %d threads: decodes per recording/channel %v, want one each of %v", name, threads, n, f.recordings)
			}
		}
		if b, _ := os.ReadFile(f.pipeCount); strings.Count(string(b), "run") != 3 {
			t.Errorf("%s: the pipe command ran %d times for 3 loads", name, strings.Count(string(b), "run"))
		}
		// A Loader, in a scattered order, from two goroutines.
		l := NewLoader(kc.Entries, s)
		order := rand.New(rand.NewPCG(9, 9)).Perm(len(kc.Entries))
		var wg sync.WaitGroup
		errs := make([]error, 2)
		for w := range 2 {
			wg.Go(func() {
				for k := w; k < len(order); k += 2 {
					i := order[k]
					x, _, err := l.Load(context.Background(), i)
					if err != nil {
						errs[w] = err
						return
					}
					if !slices.Equal(x, want[i]) {
						errs[w] = fmt.Errorf("%s: Loader differs", kc.Entries[i].Key)
						return
					}
				}
			})
		}
		wg.Wait()
		if err := errors.Join(errs...); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if len(l.cache) != 0 || l.bytes != 0 {
			t.Errorf("%s: the Loader still holds %d recordings (%d bytes)", name, len(l.cache), l.bytes)
		}
		counter.take()
	}
	// Channel 2 of the settings: the mono files refuse it, the stereo
	// file's segments without a channel field take it.
	var stereo []Entry
	for _, e := range kc.Entries {
		if e.Source.Recording == "recS" {
			stereo = append(stereo, e)
		}
	}
	got, _, err := LoadSamples(context.Background(), stereo, second, 0)
	if err != nil {
		t.Fatal(err)
	}
	want, _, err := LoadSamples(context.Background(), stereo, audio.DefaultSettings(), 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, e := range stereo {
		if same := slices.Equal(got[i], want[i]); same != (e.Source.Channel != 0) {
			t.Errorf("%s (channel field %d): same samples with settings channel 2: %v", e.Key, e.Source.Channel, same)
		}
	}
	if _, _, err := LoadSamples(context.Background(), kc.Entries, second, 0); err == nil || !strings.Contains(err.Error(), "channel 2 requested, but the file has 1") {
		t.Errorf("channel 2 of mono files: %v", err)
	}
}

func mapValues(m map[string]int) func(func(int) bool) {
	return func(yield func(int) bool) {
		for _, v := range m {
			if !yield(v) {
				return
			}
		}
	}
}

func TestOpenKaldi(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a.wav")
	writeWAV(t, a, 8000, 8000) // 1 s
	b := filepath.Join(root, "b b.wav")
	writeWAV(t, b, 4000, 16000) // 0.25 s
	dir := filepath.Join(root, "dev")
	writeText(t, filepath.Join(dir, WavScp), "\nrecb "+b+"\r\nreca\t"+a+"  \nrecp  sox x.wav -t wav - |\n")
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if got := keys(c.Entries); !slices.Equal(got, []string{"reca", "recb", "recp"}) {
		t.Fatalf("keys %q", got)
	}
	ea, eb, ep := c.Entries[0], c.Entries[1], c.Entries[2]
	if ea.Path != a || ea.Info.Frames != 8000 || ea.Split != "dev" || ea.Source.Segment || ea.Source.Line != 3 || ea.Name() != dir+": utterance reca" {
		t.Errorf("entry %+v, name %q", ea, ea.Name())
	}
	if eb.Path != b || eb.Info.SampleRate != 16000 || eb.Seconds() != 0.25 {
		t.Errorf("entry %+v", eb)
	}
	if !ep.Pipe() || ep.Path != "" || ep.Source.Command != "sox x.wav -t wav -" || ep.Info != (audio.Info{}) || ep.Seconds() != 0 {
		t.Errorf("pipe entry %+v", ep)
	}
	if !c.Kaldi || c.Assigned != 0 || c.Source != dir || c.Root != dir || len(c.Split("dev")) != 3 || len(c.Split(Train)) != 0 {
		t.Errorf("corpus %+v, splits %v", c, c.Splits())
	}
	err = Check(c.Entries, audio.DefaultSettings())
	if err == nil || !strings.Contains(err.Error(), dir+": utterance recb: sample rate is 16000 Hz") || strings.Contains(err.Error(), "more") {
		t.Errorf("Check: %v (the pipe entry, not known yet, passes)", err)
	}

	writeText(t, filepath.Join(dir, Segments), "u2 reca 0.5 -1\nu1 reca 0.1 0.35 0\nu3 recp 1 2.5\n")
	writeText(t, filepath.Join(dir, Utt2Spk), "u1 ann\nu3 bob\n")
	writeText(t, filepath.Join(dir, Text), "u2   two  words \nu1\n")
	if c, err = Open(dir); err != nil {
		t.Fatal(err)
	}
	if got := keys(c.Entries); !slices.Equal(got, []string{"u1", "u2", "u3"}) {
		t.Fatalf("keys %q (recb has no segment, so no utterance)", got)
	}
	u1, u2, u3 := c.Entries[0], c.Entries[1], c.Entries[2]
	if u1.Speaker != "ann" || u1.Label != "" || u1.Info.Frames != 2000 || u1.Source.Channel != 1 || u1.Source.Line != 2 ||
		u1.Name() != dir+": utterance u1 (recording reca, 0.1-0.35 s)" {
		t.Errorf("u1 %+v, name %q", u1, u1.Name())
	}
	if u2.Speaker != "" || u2.Label != "two  words" || u2.Info.Frames != 4000 || u2.Source.End != -1 || u2.Name() != dir+": utterance u2 (recording reca from 0.5 s to the end)" {
		t.Errorf("u2 %+v, name %q", u2, u2.Name())
	}
	if u3.Speaker != "bob" || !u3.Pipe() || u3.Seconds() != 1.5 || u3.Info.SampleRate != 0 {
		t.Errorf("u3 %+v", u3)
	}
	if err := Check(c.Entries, audio.DefaultSettings()); err != nil {
		t.Error(err)
	}
}

func TestSegmentSpan(t *testing.T) {
	for _, c := range []struct {
		start, end float64
		rate       int
		n          int64
		a, b       int64
		err        string
	}{
		{0, -1, 8000, 1000, 0, 1000, ""},
		{0.1, 0.2, 8000, 8000, 800, 1600, ""},
		{0.00015, 0.000251, 8000, 100, 1, 2, ""},            // 1.2 → 1, 2.008 → 2: truncated
		{0.5, 1.3, 8000, 8000, 4000, 8000, ""},              // 0.3 s over: clipped
		{0.5, 1.4999, 8000, 8000, 4000, 8000, ""},           // 3999 samples over: clipped
		{0.5, 1.5, 8000, 8000, 0, 0, "0.500 s after"},       // 4000 samples over: refused
		{1, 2, 8000, 8000, 0, 0, "starts at 1 s"},           // start at the end
		{1.2, -1, 8000, 8000, 0, 0, "starts at 1.2 s"},      // start beyond the end
		{0.1, 0.10001, 8000, 8000, 0, 0, "holds no sample"}, // 800 to 800
		{1, 1.2, 11025, 22050, 11025, 13230, ""},
		{0, 2.4999, 11025, 22050, 0, 22050, ""},       // 5511 over, limit int(5512.5) = 5512
		{0, 2.5, 11025, 22050, 0, 0, "0.500 s after"}, // 5512 over
	} {
		s := Source{Segment: true, Start: c.start, End: c.end}
		a, b, err := s.span(c.rate, c.n)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("%g-%g s of %d at %d Hz: error %v, want %q", c.start, c.end, c.n, c.rate, err, c.err)
			}
			continue
		}
		if err != nil || a != c.a || b != c.b {
			t.Errorf("%g-%g s of %d at %d Hz: [%d, %d) %v, want [%d, %d)", c.start, c.end, c.n, c.rate, a, b, err, c.a, c.b)
		}
	}
}

func TestOpenKaldiErrors(t *testing.T) {
	root := t.TempDir()
	a := filepath.Join(root, "a.wav")
	writeWAV(t, a, 8000, 8000)
	cwd, _ := os.Getwd()
	rel, _ := filepath.Rel(cwd, filepath.Join(root, "missing.wav"))
	ok := "reca " + a + "\n"
	for _, c := range []struct {
		name  string
		files map[string]string
		want  string
	}{
		{"empty wav.scp", map[string]string{WavScp: "\n"}, "wav.scp: lists no recordings"},
		{"no entry", map[string]string{WavScp: ok + "recb\n"}, "wav.scp:2: recording recb: no file name or command"},
		{"duplicate", map[string]string{WavScp: ok + "reca x.wav\n"}, "wav.scp:2: recording reca: listed twice (first on line 1)"},
		{"stdin", map[string]string{WavScp: "r -\n"}, `wav.scp:1: recording r: "-" (standard input) is not supported`},
		{"ark offset", map[string]string{WavScp: ok + "r /x/wav.ark:1234\n"}, "wav.scp:2: recording r: \"/x/wav.ark:1234\" is a Kaldi archive offset"},
		{"rspecifier", map[string]string{WavScp: "r ark:/x/wav.ark\n"}, "is a Kaldi rspecifier"},
		{"output pipe", map[string]string{WavScp: "r | gzip > x\n"}, "starts with \"|\""},
		{"pipe in the middle", map[string]string{WavScp: "r sox x.wav -t wav - | cat\n"}, "\"|\" in the wrong place"},
		{"empty command", map[string]string{WavScp: "r  |\n"}, "empty command"},
		{"missing file", map[string]string{WavScp: ok + "recm /nonexistent/m.wav\n"}, "wav.scp:2: recording recm: /nonexistent/m.wav: no such file"},
		{"missing relative file", map[string]string{WavScp: "recm " + rel + "\n"}, "relative paths in wav.scp are taken from the current directory"},
		{"bad wav", map[string]string{WavScp: "recw " + filepath.Join(root, "bad.wav") + "\n"}, "wav.scp:1: recording recw: " + filepath.Join(root, "bad.wav")},
		{"two bad", map[string]string{WavScp: "r1 /nonexistent/1.wav\nr2 /nonexistent/2.wav\n"}, "(and 1 more bad recordings)"},
		{"segments fields", map[string]string{WavScp: ok, Segments: "u1 reca 0 1\nu2 reca 0\n"}, "segments:2: 3 fields, want 4 or 5"},
		{"segments unknown recording", map[string]string{WavScp: ok, Segments: "u1 recz 0 1\n"}, `segments:1: recording "recz" of utterance u1 is not in`},
		{"segments bad start", map[string]string{WavScp: ok, Segments: "u1 reca 0s 1\n"}, `segments:1: utterance u1: start time "0s" is not a number`},
		{"segments nan", map[string]string{WavScp: ok, Segments: "u1 reca nan 1\n"}, `start time "nan"`},
		{"segments hex", map[string]string{WavScp: ok, Segments: "u1 reca 0x1p-2 1\n"}, `start time "0x1p-2"`},
		{"segments bad end", map[string]string{WavScp: ok, Segments: "u1 reca 0 -2\n"}, "end time -2 s: want a positive time, or -1"},
		{"segments zero end", map[string]string{WavScp: ok, Segments: "u1 reca 0 0\n"}, "end time 0 s"},
		{"segments negative start", map[string]string{WavScp: ok, Segments: "u1 reca -0.1 1\n"}, "negative start time"},
		{"segments start after end", map[string]string{WavScp: ok, Segments: "u1 reca 0.5 0.5\n"}, "start 0.5 s is not before end 0.5 s"},
		{"segments channel", map[string]string{WavScp: ok, Segments: "u1 reca 0 1 -1\n"}, `channel "-1"`},
		{"segments duplicate", map[string]string{WavScp: ok, Segments: "u1 reca 0 1\nu1 reca 0 1\n"}, "segments:2: utterance u1: listed twice"},
		{"segments beyond", map[string]string{WavScp: ok, Segments: "u1 reca 0 0.5\nu2 reca 1 2\nu3 reca 0 2\n"}, "segments:2: utterance u2: the segment starts at 1 s (sample 8000), but the recording has only 8000 samples (1.000 s) (and 1 more bad segments)"},
		{"segments overshoot", map[string]string{WavScp: ok, Segments: "u1 reca 0 1.5\n"}, "segments:1: utterance u1: the segment ends at 1.5 s, 0.500 s after the end"},
		{"segments empty", map[string]string{WavScp: ok, Segments: "\n"}, "segments: lists no segments"},
		{"segments stereo channel", map[string]string{WavScp: ok, Segments: "u1 reca 0 1 1\n"}, ": utterance u1 (recording reca, 0-1 s): channel 2 requested, but the file has 1"},
		{"utt2spk unknown", map[string]string{WavScp: ok, Utt2Spk: "reca s\nrecz s\n"}, `utt2spk:2: utterance "recz" is not in ` + "XX/wav.scp"},
		{"utt2spk fields", map[string]string{WavScp: ok, Utt2Spk: "reca s t\n"}, "utt2spk:1: 3 fields, want 2"},
		{"utt2spk duplicate", map[string]string{WavScp: ok, Utt2Spk: "reca s\nreca t\n"}, "utt2spk:2: utterance reca is listed twice"},
		{"text unknown", map[string]string{WavScp: ok, Segments: "u1 reca 0 1\n", Text: "reca hello\n"}, `text:1: utterance "reca" is not in ` + "XX/segments"},
		{"bad id", map[string]string{WavScp: "r\u00a0x " + a + "\n"}, "wav.scp:1: recording id \"r\\u00a0x\" contains whitespace"},
		{"bad utf-8", map[string]string{WavScp: "r\xff " + a + "\n"}, "is not valid UTF-8"},
	} {
		dir := filepath.Join(t.TempDir(), "d")
		writeText(t, filepath.Join(root, "bad.wav"), "RIFF")
		for name, text := range c.files {
			writeText(t, filepath.Join(dir, name), text)
		}
		want := strings.ReplaceAll(c.want, "XX", dir)
		var err error
		if c.name == "segments stereo channel" {
			var corp *Corpus
			if corp, err = Open(dir); err == nil {
				err = Check(corp.Entries, audio.DefaultSettings())
			}
		} else {
			_, err = Open(dir)
		}
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%s: error %v, want %q", c.name, err, want)
		}
	}
}

// pipeDir is a data directory of one recording given by command.
func pipeDir(t *testing.T, command string, segments string) *Corpus {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "d")
	writeText(t, filepath.Join(dir, WavScp), "rec "+command+" |\n")
	if segments != "" {
		writeText(t, filepath.Join(dir, Segments), segments)
	}
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func TestKaldiPipeErrors(t *testing.T) {
	s := audio.DefaultSettings()
	var lines strings.Builder
	for i := range 7 {
		fmt.Fprintf(&lines, "echo 'error line %d' >&2; ", i+1)
	}
	c := pipeDir(t, lines.String()+"exit 3", "utt1 rec 0 1\nutt2 rec 1 2\n")
	_, _, err := LoadSamples(context.Background(), c.Entries, s, 2)
	if err == nil {
		t.Fatal("a failing command loaded")
	}
	msg := err.Error()
	for _, want := range []string{"utterance utt1 (recording rec, 0-1 s)", "the command failed (exit status 3)", "error line 3 / error line 4", "error line 7"} {
		if !strings.Contains(msg, want) {
			t.Errorf("error %q lacks %q", msg, want)
		}
	}
	if _, tail, _ := strings.Cut(msg, "standard error ends:"); strings.Contains(tail, "error line 2") || strings.Contains(msg, "\n") {
		t.Errorf("error %q: more than the last 5 lines, or not one line", msg)
	}

	c = pipeDir(t, "echo not a wav file", "")
	if _, _, err = LoadSamples(context.Background(), c.Entries, s, 1); err == nil || !strings.Contains(err.Error(), ": utterance rec: echo not a wav file |: ") {
		t.Errorf("bad output: %v", err)
	}
	c = pipeDir(t, "nextsample-no-such-command x.flac", "")
	if _, _, err = LoadSamples(context.Background(), c.Entries, s, 1); err == nil || !strings.Contains(err.Error(), "exit status 127") || !strings.Contains(err.Error(), "not found") {
		t.Errorf("missing command: %v", err)
	}

	// Several bad recordings: the first, in entry order, is reported,
	// whatever the thread count.
	dir := filepath.Join(t.TempDir(), "d")
	writeText(t, filepath.Join(dir, WavScp), "r1 sleep 0.2; cat /dev/null |\nr2 exit 2 |\nr3 exit 3 |\nr4 exit 4 |\n")
	mc, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, threads := range []int{1, 2, 4} {
		_, _, err := LoadSamples(context.Background(), mc.Entries, s, threads)
		if err == nil || !strings.Contains(err.Error(), ": utterance r1: sleep 0.2; cat /dev/null |: ") {
			t.Errorf("%d threads: %v, want r1's error", threads, err)
		}
	}

	// A command whose recording is at another rate: refused when decoded.
	wav := filepath.Join(t.TempDir(), "x.wav")
	writeWAV(t, wav, 16000, 16000)
	c = pipeDir(t, "cat "+quote(wav), "u1 rec 0 0.5\nu2 rec 0.5 2\n")
	if err := Check(c.Entries, s); err != nil {
		t.Errorf("Check of an unknown pipe recording: %v", err)
	}
	_, _, err = LoadSamples(context.Background(), c.Entries, s, 1)
	if err == nil || !strings.Contains(err.Error(), "utterance u1 (recording rec, 0-0.5 s): sample rate is 16000 Hz") {
		t.Errorf("rate of a pipe recording: %v", err)
	}
	s.Resample = true
	_, _, err = LoadSamples(context.Background(), c.Entries, s, 1)
	if err == nil || !strings.Contains(err.Error(), "utterance u2 (recording rec, 0.5-2 s): the segment ends at 2 s, 1.000 s after the end of the recording (1.000 s)") {
		t.Errorf("segment beyond a pipe recording: %v", err)
	}
}

// TestKaldiPipeCancel: cancelling a load kills the command's whole
// process group at once, and nothing of it is left running.
func TestKaldiPipeCancel(t *testing.T) {
	pidFile := filepath.Join(t.TempDir(), "pid")
	c := pipeDir(t, fmt.Sprintf("sleep 60 & echo $! > %s; wait", quote(pidFile)), "")
	for _, use := range []string{"LoadSamples", "Loader"} {
		os.Remove(pidFile)
		ctx, cancel := context.WithCancel(context.Background())
		done := make(chan error, 1)
		go func() {
			var err error
			if use == "Loader" {
				_, _, err = NewLoader(c.Entries, audio.DefaultSettings()).Load(ctx, 0)
			} else {
				_, _, err = LoadSamples(ctx, c.Entries, audio.DefaultSettings(), 1)
			}
			done <- err
		}()
		var pid int
		for deadline := time.Now().Add(10 * time.Second); pid == 0; time.Sleep(5 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatal("the command did not start")
			}
			b, _ := os.ReadFile(pidFile)
			pid, _ = strconv.Atoi(strings.TrimSpace(string(b)))
		}
		start := time.Now()
		cancel()
		select {
		case err := <-done:
			if !errors.Is(err, context.Canceled) {
				t.Errorf("%s: error %v, want context.Canceled", use, err)
			}
			if d := time.Since(start); d > time.Second {
				t.Errorf("%s: returned %v after the cancellation", use, d)
			}
		case <-time.After(10 * time.Second):
			t.Fatalf("%s: still running 10 s after the cancellation", use)
		}
		for deadline := time.Now().Add(5 * time.Second); running(pid); time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				t.Fatalf("%s: the command's child %d still runs after the cancellation", use, pid)
			}
		}
	}
}

// running reports whether process pid exists and is not a zombie.
func running(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i < 0 || i+2 >= len(s) || s[i+2] != 'Z'
}

// TestLoaderCache: a Loader with no room to keep recordings decodes them
// again and still gives the same samples; one with room decodes each
// once, and a recording is dropped as soon as its last entry is loaded.
func TestLoaderCache(t *testing.T) {
	root := t.TempDir()
	var scp, segs strings.Builder
	for r := range 4 {
		p := filepath.Join(root, fmt.Sprintf("r%d.wav", r))
		if err := audio.WriteFile(p, synth(8000, uint64(r)), 8000, audio.PCM16); err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(&scp, "r%d %s\n", r, p)
		for u := range 5 {
			fmt.Fprintf(&segs, "r%d-u%d r%d %g %g\n", r, u, r, 0.2*float64(u), 0.2*float64(u)+0.3)
		}
	}
	dir := filepath.Join(root, "d")
	writeText(t, filepath.Join(dir, WavScp), scp.String())
	writeText(t, filepath.Join(dir, Segments), segs.String())
	c, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	s := audio.DefaultSettings()
	want, _, err := LoadSamples(context.Background(), c.Entries, s, 1)
	if err != nil {
		t.Fatal(err)
	}
	counter := countDecodes(t)
	order := rand.New(rand.NewPCG(1, 2)).Perm(len(c.Entries))
	for _, bytes := range []int64{0, DefaultCacheBytes} {
		l := NewLoader(c.Entries, s)
		l.CacheBytes = bytes
		for _, i := range order {
			x, _, err := l.Load(context.Background(), i)
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(x, want[i]) {
				t.Fatalf("cache %d: %s differs", bytes, c.Entries[i].Key)
			}
			if bytes == 0 && (len(l.cache) != 0 || l.bytes != 0) {
				t.Fatalf("cache 0: holds %d recordings", len(l.cache))
			}
		}
		total := 0
		for _, n := range counter.take() {
			total += n
		}
		if bytes == 0 && total <= 4 || bytes > 0 && total != 4 {
			t.Errorf("cache %d: %d decodes of 4 recordings", bytes, total)
		}
		if len(l.cache) != 0 || l.bytes != 0 {
			t.Errorf("cache %d: %d recordings (%d bytes) left", bytes, len(l.cache), l.bytes)
		}
	}
}

// TestKaldiPipeBackground: a command that leaves a process running in
// the background (holding its output open) still loads, and the process
// is killed with the command's group.
func TestKaldiPipeBackground(t *testing.T) {
	tmp := t.TempDir()
	wav, pidFile := filepath.Join(tmp, "x.wav"), filepath.Join(tmp, "pid")
	writeWAV(t, wav, 800, 8000)
	c := pipeDir(t, fmt.Sprintf("sleep 60 & echo $! > %s; cat %s", quote(pidFile), quote(wav)), "")
	start := time.Now()
	x, _, err := LoadSamples(context.Background(), c.Entries, audio.DefaultSettings(), 1)
	if err != nil || len(x[0]) != 800 {
		t.Fatalf("%v", err)
	}
	if d := time.Since(start); d > pipeGrace+2*time.Second {
		t.Errorf("took %v", d)
	}
	b, _ := os.ReadFile(pidFile)
	pid, _ := strconv.Atoi(strings.TrimSpace(string(b)))
	for deadline := time.Now().Add(5 * time.Second); pid == 0 || running(pid); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("the background process %d still runs", pid)
		}
	}
}
