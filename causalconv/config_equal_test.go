package causalconv

import (
	"reflect"
	"slices"
	"testing"
)

// TestConfigEqual checks that Config.Equal compares every field: a copy
// (with its own Dilations, GlobalCondition and LocalCondition) is equal,
// and a change to any one field, or to any field of the conditioning
// structs, found by reflection so that a field added later is covered
// too, makes it unequal.
func TestConfigEqual(t *testing.T) {
	base := conditioned(true)
	base.LocalCondition = lcConfig(true, false, true).LocalCondition
	deepCopy := func(c Config) Config {
		c.Dilations = append([]int(nil), c.Dilations...)
		g := *c.GlobalCondition
		c.GlobalCondition = &g
		c.LocalCondition = c.LocalCondition.Clone()
		return c
	}
	if !base.Equal(base) {
		t.Fatal("a config is not equal to itself")
	}
	cp := deepCopy(base)
	if !base.Equal(cp) || !cp.Equal(base) {
		t.Fatal("a deep copy is not equal")
	}
	// changesOf returns the changes of a value of type ty that make it
	// differ: one per kind, two for a slice (longer, or an element
	// changed), and for a pointer to a struct nil or one field changed.
	var changesOf func(ty reflect.Type, name string) []func(v reflect.Value)
	changesOf = func(ty reflect.Type, name string) []func(v reflect.Value) {
		switch ty.Kind() {
		case reflect.Int:
			return []func(v reflect.Value){func(v reflect.Value) { v.SetInt(v.Int() + 1) }}
		case reflect.Float64:
			return []func(v reflect.Value){func(v reflect.Value) { v.SetFloat(v.Float() + 1) }}
		case reflect.String:
			return []func(v reflect.Value){func(v reflect.Value) { v.SetString(v.String() + "x") }}
		case reflect.Bool:
			return []func(v reflect.Value){func(v reflect.Value) { v.SetBool(!v.Bool()) }}
		case reflect.Slice:
			out := []func(v reflect.Value){func(v reflect.Value) { v.Set(reflect.Append(v, v.Index(0))) }}
			for _, ch := range changesOf(ty.Elem(), name) {
				out = append(out, func(v reflect.Value) { ch(v.Index(0)) })
			}
			return out
		case reflect.Pointer:
			out := []func(v reflect.Value){func(v reflect.Value) { v.Set(reflect.Zero(v.Type())) }}
			el := ty.Elem()
			for j := 0; j < el.NumField(); j++ {
				for _, ch := range changesOf(el.Field(j).Type, name+"."+el.Field(j).Name) {
					out = append(out, func(v reflect.Value) { ch(v.Elem().Field(j)) })
				}
			}
			return out
		}
		t.Fatalf("Config.%s: a %s field this test cannot change", name, ty)
		return nil
	}
	ty := reflect.TypeOf(base)
	for i := 0; i < ty.NumField(); i++ {
		f := ty.Field(i)
		for k, change := range changesOf(f.Type, f.Name) {
			c := deepCopy(base) // the pointers' targets are copies: a change leaves base as it is
			change(reflect.ValueOf(&c).Elem().Field(i))
			if base.Equal(c) || c.Equal(base) {
				t.Errorf("Config.%s (change %d): configs differing only there are equal", f.Name, k)
			}
		}
	}
}

// TestConfigFileVariant checks the lookup of a named variant: "" is the
// base model, a name is that variant, and an unknown name is an error
// that lists the names there are.
func TestConfigFileVariant(t *testing.T) {
	f, err := ParseConfig([]byte(`{"model": {"quantization_channels": 16, "input_encoding": "onehot",
		"input_kernel_size": 1, "residual_channels": 4, "dilation_channels": 4, "skip_channels": 8,
		"end_channels": 8, "kernel_size": 2, "dilations": [1, 2], "bias": true, "residual_on_last_layer": false},
		"variants": {"wide": {"skip_channels": 16}, "deep": {"dilations": [1, 2, 4]}}}`))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := f.Variant(""); err != nil || !c.Equal(f.Model) {
		t.Errorf(`Variant(""): %v, %v; want the base model`, c, err)
	}
	if c, err := f.Variant("wide"); err != nil || c.SkipChannels != 16 || !slices.Equal(c.Dilations, []int{1, 2}) {
		t.Errorf(`Variant("wide"): %+v, %v`, c, err)
	}
	if c, err := f.Variant("deep"); err != nil || c.SkipChannels != 8 || !slices.Equal(c.Dilations, []int{1, 2, 4}) {
		t.Errorf(`Variant("deep"): %+v, %v`, c, err)
	}
	_, err = f.Variant("skip256")
	if want := `no variant "skip256" (variants: [wide deep])`; err == nil || err.Error() != want {
		t.Errorf(`Variant("skip256"): %v, want %q`, err, want)
	}
	bare, err := ParseConfig([]byte(`{"quantization_channels": 16, "input_encoding": "onehot",
		"input_kernel_size": 1, "residual_channels": 4, "dilation_channels": 4, "skip_channels": 8,
		"end_channels": 8, "kernel_size": 2, "dilations": [1, 2], "bias": true, "residual_on_last_layer": false}`))
	if err != nil {
		t.Fatal(err)
	}
	if c, err := bare.Variant("model"); err != nil || !c.Equal(bare.Model) {
		t.Errorf(`bare model object: Variant("model"): %v, %v`, c, err)
	}
}
