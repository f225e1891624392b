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

func TestAudioLengthAndFirstFew(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{AudioLength(12000, 8000), "1.5 s"},
		{AudioLength(8000*90, 8000), "1.5 min"},
		{AudioLength(8000*5400, 8000), "1.50 h"},
		{FirstFew([]string{"a", "b"}, 2), "a, b"},
		{FirstFew([]string{"a", "b", "c", "d"}, 2), "a, b and 2 more"},
		{FirstFew(nil, 3), ""},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
}

func TestThousands(t *testing.T) {
	for v, want := range map[float64]string{0: "0", 999: "999", 1000: "1,000", 47123.6: "47,124", 1234567: "1,234,567", -1234: "-1,234"} {
		if got := Thousands(v); got != want {
			t.Errorf("Thousands(%v) = %q, want %q", v, got, want)
		}
	}
}

func TestShortCount(t *testing.T) {
	for v, want := range map[float64]string{950: "950", 31234: "31K", 4.1e6: "4.1M", 1.23e7: "12M"} {
		if got := ShortCount(v); got != want {
			t.Errorf("ShortCount(%v) = %q, want %q", v, got, want)
		}
	}
}
