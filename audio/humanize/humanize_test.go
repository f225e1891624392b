package humanize

import "testing"

func TestBytes(t *testing.T) {
	for n, want := range map[int64]string{
		0: "0 B", 1023: "1023 B", 1024: "1.0 KiB", 12345: "12.1 KiB",
		4 << 20: "4.0 MiB", 5<<30 + 1<<28: "5.25 GiB",
	} {
		if got := Bytes(n); got != want {
			t.Errorf("Bytes(%d) = %q, want %q", n, got, want)
		}
	}
}

func TestHoursMinutes(t *testing.T) {
	for s, want := range map[float64]string{
		0: "0.000 s", 4.25: "4.250 s", 59.9994: "59.999 s",
		60: "1 min 00 s (60.000 s)", 185.012: "3 min 05 s (185.012 s)",
		3599.6: "60 min 00 s (3599.600 s)", // rounded to the second, not promoted to hours
		3600:   "1 h 00 min (3600.000 s)", 187620.481: "52 h 07 min (187620.481 s)",
	} {
		if got := HoursMinutes(s); got != want {
			t.Errorf("HoursMinutes(%v) = %q, want %q", s, got, want)
		}
	}
}

func TestCount(t *testing.T) {
	for n, want := range map[int]string{0: "0 speakers", 1: "1 speaker", 2: "2 speakers"} {
		if got := Count(n, "speaker"); got != want {
			t.Errorf("Count(%d) = %q, want %q", n, got, want)
		}
	}
}
