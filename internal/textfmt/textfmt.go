// Package textfmt formats numbers and lists for people, the same way
// wherever the project prints them: the commands of cmd/nextsample and the
// text forms of the libraries' reports (a run's memory, a class cache, a
// plan's data). One format per kind of number keeps the output of every
// command consistent, and lets a library's report print exactly what the
// command used to.
//
//	textfmt.Bytes(1 << 20)                      // "1.0 MiB"
//	textfmt.AudioLength(96000, 8000)            // "12.0 s"
//	textfmt.FirstFew([]string{"a", "b", "c"}, 2) // "a, b and 1 more"
package textfmt

import (
	"fmt"
	"strings"
)

// Bytes formats n bytes in binary units: B below a KiB, then KiB and MiB
// with one decimal and GiB with two.
func Bytes(n int64) string {
	switch {
	case n >= 1<<30:
		return fmt.Sprintf("%.2f GiB", float64(n)/(1<<30))
	case n >= 1<<20:
		return fmt.Sprintf("%.1f MiB", float64(n)/(1<<20))
	case n >= 1<<10:
		return fmt.Sprintf("%.1f KiB", float64(n)/(1<<10))
	}
	return fmt.Sprintf("%d B", n)
}

// AudioLength formats n samples at rate Hz as the time they last: hours
// with two decimals from an hour on, minutes with one from a minute on,
// else seconds with one.
func AudioLength(n int64, rate int) string {
	sec := float64(n) / float64(rate)
	switch {
	case sec >= 3600:
		return fmt.Sprintf("%.2f h", sec/3600)
	case sec >= 60:
		return fmt.Sprintf("%.1f min", sec/60)
	}
	return fmt.Sprintf("%.1f s", sec)
}

// FirstFew joins the first n of names with commas, saying how many more
// there are: a list cut short for a message.
func FirstFew(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}
