package textfmt

import "testing"

func TestFormats(t *testing.T) {
	for _, c := range []struct{ got, want string }{
		{Bytes(0), "0 B"},
		{Bytes(1023), "1023 B"},
		{Bytes(1536), "1.5 KiB"},
		{Bytes(5 << 20), "5.0 MiB"},
		{Bytes(3 << 30), "3.00 GiB"},
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
