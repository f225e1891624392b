package corpus

import (
	"math"
	"os"
	"strings"
	"testing"
	"unicode"
)

// FuzzParseManifest: any bytes give entries or an error naming the
// manifest, never a panic; every entry has a usable key and path.
func FuzzParseManifest(f *testing.F) {
	if b, err := os.ReadFile("../../samples/fsdd/manifest.csv"); err == nil {
		f.Add(b[:min(len(b), 2000)])
	}
	for _, s := range []string{
		"path\na.wav\n",
		"\ufeffpath, speaker,label,split,extra\n\"x y.wav\",a,1,,e\n/abs.wav,b,2,train,\n",
		"path,split\na.wav\n",
		"speaker\nbob\n",
		"path\n/\n",
		"path,path\na,b\n",
		"path\n\"unterminated\n",
		"",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		entries, err := parseManifest(strings.NewReader(string(b)), "dir/m.csv")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "dir/m.csv") {
				t.Fatalf("error %q does not name the manifest", err)
			}
			return
		}
		for _, e := range entries {
			if e.Key == "" || e.Path == "" || strings.IndexFunc(e.Key, unicode.IsSpace) >= 0 {
				t.Fatalf("entry %+v", e)
			}
		}
	})
}

// FuzzParseWavScp: any bytes give recordings or an error naming wav.scp,
// never a panic; every recording has an id without whitespace and exactly
// one of a path and a command, neither with surrounding whitespace.
func FuzzParseWavScp(f *testing.F) {
	for _, s := range []string{
		"rec1 /corpora/rec1.wav\nrec2 flac -c -d -s /corpora/rec2.flac |\n",
		"a sph2pipe -f wav x.wv1 |\r\nb\tsox x.wav -t wav - |  \n\n",
		"a -\n", "a x.ark:12\n", "a ark:x.ark\n", "a | gzip\n", "a x | y\n", "a |\n", "a\n",
		"a x\na y\n", "r\u00a0x y\n", "\xff x\n", "a x\x00y\n", " \t \n", ":1 :1\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := parseWavScp(string(b), "d/wav.scp")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "d/wav.scp:") {
				t.Fatalf("error %q does not name the file and line", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, r := range recs {
			if r.id == "" || strings.IndexFunc(r.id, unicode.IsSpace) >= 0 || seen[r.id] || (r.path == "") == (r.command == "") ||
				trimSpace(r.path) != r.path || trimSpace(r.command) != r.command || r.line < 1 {
				t.Fatalf("recording %+v", r)
			}
			seen[r.id] = true
		}
	})
}

// FuzzParseSegments: any bytes give segments or an error naming the file
// and line; every segment has ids, finite times that extract-segments
// accepts, and a channel from 0 (none) up.
func FuzzParseSegments(f *testing.F) {
	for _, s := range []string{
		"rec1-a rec1 0.00 2.50\nrec1-b rec1 2.50 -1\nrec2-a rec2 1.20 4.75 1\n",
		"u r 0 1\r\n\nu2 r 1e-3 2E0 0\n", "u r nan 1\n", "u r 0 inf\n", "u r 0x1p1 3\n", "u r 1 0\n",
		"u r -1 2\n", "u r 0 -2\n", "u r 0 1 -1\n", "u r 0 1 99999999999999999999\n", "u r 0 1\nu r 0 1\n",
		"u r 0\n", "u r 0 1 2 3\n", "u r 1_0 20\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		segs, err := parseSegments(string(b), "d/segments")
		if err != nil {
			if !strings.HasPrefix(err.Error(), "d/segments:") {
				t.Fatalf("error %q does not name the file and line", err)
			}
			return
		}
		seen := map[string]bool{}
		for _, s := range segs {
			if seen[s.utt] {
				t.Fatalf("utterance %s twice", s.utt)
			}
			seen[s.utt] = true
			finite := !math.IsNaN(s.start) && !math.IsInf(s.start, 0) && !math.IsNaN(s.end) && !math.IsInf(s.end, 0)
			if s.utt == "" || s.rec == "" || !finite || s.start < 0 || (s.end != -1 && s.end <= s.start) || s.channel < 0 || s.line < 1 {
				t.Fatalf("segment %+v", s)
			}
			src := Source{Segment: true, Start: s.start, End: s.end}
			if a, b, err := src.span(16000, 160000); err == nil && (a < 0 || b > 160000 || a >= b) {
				t.Fatalf("segment %+v: span [%d, %d)", s, a, b)
			}
		}
	})
}

func fuzzTable(f *testing.F, pair bool, name string, seeds []string) {
	for _, s := range seeds {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		lines, err := parseTable(string(b), "d/"+name, pair)
		if err != nil {
			if !strings.HasPrefix(err.Error(), "d/"+name+":") {
				t.Fatalf("error %q does not name the file and line", err)
			}
			return
		}
		for _, l := range lines {
			if l.key == "" || strings.IndexFunc(l.key, unicode.IsSpace) >= 0 || trimSpace(l.value) != l.value ||
				(pair && (l.value == "" || strings.IndexFunc(l.value, unicode.IsSpace) >= 0)) || l.line < 1 {
				t.Fatalf("line %+v", l)
			}
		}
	})
}

// FuzzParseUtt2Spk: any bytes give utterance-speaker pairs or an error
// naming the file and line.
func FuzzParseUtt2Spk(f *testing.F) {
	fuzzTable(f, true, Utt2Spk, []string{"u1 alice\nu2 bob\r\n\n", "u1\n", "u1 a b\n", "u1 a\nu1 b\n", "u\u2028 a\n", "u a\u00a0\n"})
}

// FuzzParseText: any bytes give transcripts or an error naming the file
// and line.
func FuzzParseText(f *testing.F) {
	fuzzTable(f, false, Text, []string{"u1 HELLO  WORLD\nu2\n\n", "u1 x\nu1 y\n", "\xff x\n", "u1\tTAB SEP \r\n"})
}
