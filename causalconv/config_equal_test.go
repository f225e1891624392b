package causalconv

import (
	"reflect"
	"slices"
	"testing"
)

// TestConfigEqual checks that Config.Equal compares every field: a copy
// (with its own Dilations and GlobalCondition) is equal, and a change to
// any one field, found by reflection so that a field added later is
// covered too, makes it unequal.
func TestConfigEqual(t *testing.T) {
	base := conditioned(true)
	if !base.Equal(base) {
		t.Fatal("a config is not equal to itself")
	}
	cp := base
	cp.Dilations = append([]int(nil), base.Dilations...)
	g := *base.GlobalCondition
	cp.GlobalCondition = &g
	if !base.Equal(cp) || !cp.Equal(base) {
		t.Fatal("a deep copy is not equal")
	}
	ty := reflect.TypeOf(base)
	for i := 0; i < ty.NumField(); i++ {
		f := ty.Field(i)
		var changes []func(v reflect.Value)
		switch f.Type.Kind() {
		case reflect.Int:
			changes = append(changes, func(v reflect.Value) { v.SetInt(v.Int() + 1) })
		case reflect.String:
			changes = append(changes, func(v reflect.Value) { v.SetString(v.String() + "x") })
		case reflect.Bool:
			changes = append(changes, func(v reflect.Value) { v.SetBool(!v.Bool()) })
		case reflect.Slice:
			changes = append(changes,
				func(v reflect.Value) { v.Set(reflect.Append(v, v.Index(0))) },
				func(v reflect.Value) { v.Index(0).SetInt(v.Index(0).Int() + 1) })
		case reflect.Pointer:
			changes = append(changes, func(v reflect.Value) { v.Set(reflect.Zero(v.Type())) })
			for j := 0; j < f.Type.Elem().NumField(); j++ {
				changes = append(changes, func(v reflect.Value) {
					e := reflect.New(f.Type.Elem())
					e.Elem().Set(v.Elem())
					e.Elem().Field(j).SetInt(e.Elem().Field(j).Int() + 1)
					v.Set(e)
				})
			}
		default:
			t.Fatalf("Config.%s: a %s field this test cannot change", f.Name, f.Type)
		}
		for k, change := range changes {
			c := base
			c.Dilations = append([]int(nil), base.Dilations...)
			g := *base.GlobalCondition
			c.GlobalCondition = &g
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
