package corpus

import (
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
