package main

import "testing"

func TestGroupThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 47123.6: "47,124", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := groupThousands(v); got != want {
			t.Errorf("groupThousands(%v) = %q, want %q", v, got, want)
		}
	}
}
