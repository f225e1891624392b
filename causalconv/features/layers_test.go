package features

import (
	"slices"
	"strings"
	"testing"

	"github.com/nextsample/nextsample/causalconv"
)

func TestParseLayers(t *testing.T) {
	z := func(ls ...int) []Item {
		out := make([]Item, len(ls))
		for i, l := range ls {
			out[i] = Item{Layer: l}
		}
		return out
	}
	skip := Item{Skip: true}
	for _, c := range []struct {
		spec  string
		want  Layers
		canon string
	}{
		{"skip", Layers{skip}, "skip"},
		{"z:all", z(0, 1, 2, 3, 4, 5), "z:0-5"},
		{"z:0,5", z(0, 5), "z:0,5"},
		{"z:0-2,4", z(0, 1, 2, 4), "z:0-2,4"},
		{"skip,z:all", append(Layers{skip}, z(0, 1, 2, 3, 4, 5)...), "skip,z:0-5"},
		{"z:5,skip", Layers{{Layer: 5}, skip}, "z:5,skip"},
		{" z:3 , 1 ", z(3, 1), "z:3,1"},
		{"z:1,skip,z:0", Layers{{Layer: 1}, skip, {Layer: 0}}, "z:1,skip,z:0"},
	} {
		got, err := ParseLayers(c.spec, 6)
		if err != nil {
			t.Errorf("ParseLayers(%q): %v", c.spec, err)
			continue
		}
		if !slices.Equal(got, c.want) {
			t.Errorf("ParseLayers(%q) = %v, want %v", c.spec, got, c.want)
		}
		if s := got.String(); s != c.canon {
			t.Errorf("ParseLayers(%q).String() = %q, want %q", c.spec, s, c.canon)
		}
		again, err := ParseLayers(got.String(), 6)
		if err != nil || !slices.Equal(again, got) {
			t.Errorf("%q does not parse back: %v, %v", got.String(), again, err)
		}
	}
	for spec, want := range map[string]string{
		"":          "empty",
		"skip,":     "empty term",
		"gate3":     "unknown term",
		"3":         "unknown term",
		"z:6":       "layer 6 does not exist",
		"z:-1":      "not a layer number",
		"z:a":       "not a layer number",
		"z:3-1":     "backwards",
		"z:0,0":     "z0 given twice",
		"skip,skip": "skip given twice",
		"z:all,2":   "z2 given twice",
		"z:":        "not a layer number",
	} {
		_, err := ParseLayers(spec, 6)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ParseLayers(%q): error %v, want one containing %q", spec, err, want)
		}
	}
}

func TestLayersDimAndNeeds(t *testing.T) {
	c := causalconv.DefaultConfig()
	for _, tc := range []struct {
		spec   string
		dim    int
		layers int
		skip   bool
		names  string
	}{
		{"skip", 256, 20, true, "skip"},
		{"z:all", 640, 20, false, "z0 z1 z2 z3 z4 z5 z6 z7 z8 z9 z10 z11 z12 z13 z14 z15 z16 z17 z18 z19"},
		{"z:0,5", 64, 6, false, "z0 z5"},
		{"skip,z:19", 288, 20, true, "skip z19"},
	} {
		ls, err := ParseLayers(tc.spec, c.Layers())
		if err != nil {
			t.Fatal(err)
		}
		layers, skip := ls.needs(c.Layers())
		if d := ls.Dim(c); d != tc.dim || layers != tc.layers || skip != tc.skip {
			t.Errorf("%s: dim %d, runs %d layers, skip %v; want %d, %d, %v", tc.spec, d, layers, skip, tc.dim, tc.layers, tc.skip)
		}
		if n := strings.Join(ls.Names(), " "); n != tc.names {
			t.Errorf("%s: names %q, want %q", tc.spec, n, tc.names)
		}
	}
}

// FuzzParseLayers checks that no specification panics and that every
// accepted one has a canonical form that parses back to the same items.
func FuzzParseLayers(f *testing.F) {
	for _, s := range []string{"skip", "z:all", "z:0,5,19", "skip,z:all", "z:0-4,10", "z:19,skip", "z:3-1", "z:,", ",", "z:1--2", "z:99999999999999999999"} {
		f.Add(s, 20)
	}
	f.Fuzz(func(t *testing.T, spec string, layers int) {
		layers = 1 + (layers&0xff)%64
		ls, err := ParseLayers(spec, layers)
		if err != nil {
			return
		}
		if len(ls) == 0 {
			t.Fatalf("%q: accepted with no items", spec)
		}
		seen := map[Item]bool{}
		for _, it := range ls {
			if seen[it] || (!it.Skip && (it.Layer < 0 || it.Layer >= layers)) {
				t.Fatalf("%q: item %+v repeated or out of range", spec, it)
			}
			seen[it] = true
		}
		again, err := ParseLayers(ls.String(), layers)
		if err != nil || !slices.Equal(again, ls) {
			t.Fatalf("%q: canonical form %q parses to %v, %v", spec, ls.String(), again, err)
		}
	})
}
