package features

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nextsample/nextsample/causalconv"
)

// An Item is one block of columns of a learned feature vector: the skip
// sum, or the gated activations of one layer.
type Item struct {
	// Skip selects the skip sum Σ_l skip_l (before the head's first ReLU),
	// SkipChannels values per frame.
	Skip bool
	// Layer is the layer whose gate output z = tanh(f)·σ(g) is taken
	// (DilationChannels values per frame) when Skip is false; 0 is the
	// layer nearest the input.
	Layer int
}

// Name is the item's name in features.json: "skip" or "z<layer>".
func (it Item) Name() string {
	if it.Skip {
		return "skip"
	}
	return "z" + strconv.Itoa(it.Layer)
}

// Layers is a learned feature vector's layout: its items in column order.
type Layers []Item

// ParseLayers reads a --layers specification for a model of numLayers
// dilated layers. The syntax is a comma-separated list of terms, whose
// items are concatenated in the order given:
//
//	skip          the skip sum (the head's input before its first ReLU)
//	z:all         the gated activations of every layer, 0 first
//	z:SEL,SEL...  the gated activations of the selected layers, where SEL
//	              is a layer number (0 is nearest the input) or a range
//	              A-B (both included); bare numbers and ranges after a
//	              z: term continue it
//
// So "skip", "z:all", "z:0,5,19", "z:0-4,10", "skip,z:all" and
// "z:19,skip" are all valid. An item may appear only once, and layer
// numbers must be below numLayers.
func ParseLayers(spec string, numLayers int) (Layers, error) {
	if numLayers < 1 {
		return nil, fmt.Errorf("layers %q: the model has no layers", spec)
	}
	bad := func(format string, a ...any) error {
		return fmt.Errorf("layers %q: %s (want e.g. skip, z:all, z:0,5,19 or skip,z:all)", spec, fmt.Sprintf(format, a...))
	}
	if strings.TrimSpace(spec) == "" {
		return nil, bad("empty")
	}
	var out Layers
	seen := map[Item]bool{}
	add := func(it Item) error {
		if seen[it] {
			return bad("%s given twice", it.Name())
		}
		seen[it] = true
		out = append(out, it)
		return nil
	}
	inZ := false
	for _, tok := range strings.Split(spec, ",") {
		tok = strings.TrimSpace(tok)
		sel := tok
		switch {
		case tok == "skip":
			inZ = false
			if err := add(Item{Skip: true}); err != nil {
				return nil, err
			}
			continue
		case strings.HasPrefix(tok, "z:"):
			inZ = true
			sel = tok[2:]
		case tok == "":
			return nil, bad("empty term")
		case !inZ:
			return nil, bad("unknown term %q", tok)
		}
		lo, hi, err := parseSelection(sel, numLayers)
		if err != nil {
			return nil, bad("%v", err)
		}
		for l := lo; l <= hi; l++ {
			if err := add(Item{Layer: l}); err != nil {
				return nil, err
			}
		}
	}
	return out, nil
}

// parseSelection reads "all", "N" or "A-B" into an inclusive range.
func parseSelection(sel string, numLayers int) (lo, hi int, err error) {
	if sel == "all" {
		return 0, numLayers - 1, nil
	}
	num := func(s string) (int, error) {
		n, err := strconv.Atoi(s)
		if err != nil || n < 0 {
			return 0, fmt.Errorf("%q is not a layer number", s)
		}
		if n >= numLayers {
			return 0, fmt.Errorf("layer %d does not exist: the model has layers 0 to %d", n, numLayers-1)
		}
		return n, nil
	}
	a, b, isRange := strings.Cut(sel, "-")
	if lo, err = num(a); err != nil {
		return 0, 0, err
	}
	if !isRange {
		return lo, lo, nil
	}
	if hi, err = num(b); err != nil {
		return 0, 0, err
	}
	if hi < lo {
		return 0, 0, errors.New("range " + sel + " runs backwards")
	}
	return lo, hi, nil
}

// String is the canonical specification of ls (ParseLayers reads it back
// to the same Layers): runs of consecutive layers become ranges.
func (ls Layers) String() string {
	var terms []string
	for i := 0; i < len(ls); {
		if ls[i].Skip {
			terms = append(terms, "skip")
			i++
			continue
		}
		var sels []string
		for i < len(ls) && !ls[i].Skip {
			j := i
			for j+1 < len(ls) && !ls[j+1].Skip && ls[j+1].Layer == ls[j].Layer+1 {
				j++
			}
			if j > i {
				sels = append(sels, fmt.Sprintf("%d-%d", ls[i].Layer, ls[j].Layer))
			} else {
				sels = append(sels, strconv.Itoa(ls[i].Layer))
			}
			i = j + 1
		}
		terms = append(terms, "z:"+strings.Join(sels, ","))
	}
	return strings.Join(terms, ",")
}

// Names lists the items' names in column order, for features.json.
func (ls Layers) Names() []string {
	out := make([]string, len(ls))
	for i, it := range ls {
		out[i] = it.Name()
	}
	return out
}

// Dim is the number of values per frame for a model of architecture c.
func (ls Layers) Dim(c causalconv.Config) int {
	n := 0
	for _, it := range ls {
		if it.Skip {
			n += c.SkipChannels
		} else {
			n += c.DilationChannels
		}
	}
	return n
}

// needs returns what the network must compute for ls: how many layers
// from the input, and whether the skip sum.
func (ls Layers) needs(numLayers int) (layers int, skip bool) {
	for _, it := range ls {
		if it.Skip {
			skip = true
			layers = numLayers
		} else {
			layers = max(layers, it.Layer+1)
		}
	}
	return layers, skip
}
