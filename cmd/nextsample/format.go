package main

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// The number formats of the commands' output, in one place.

// byteSize formats n bytes for people.
func byteSize(n int64) string {
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

// audioLength formats n samples at rate Hz as hours, minutes or seconds.
func audioLength(n int64, rate int) string {
	sec := float64(n) / float64(rate)
	switch {
	case sec >= 3600:
		return fmt.Sprintf("%.2f h", sec/3600)
	case sec >= 60:
		return fmt.Sprintf("%.1f min", sec/60)
	}
	return fmt.Sprintf("%.1f s", sec)
}

// firstFew joins the first n of names, saying how many more there are.
func firstFew(names []string, n int) string {
	if len(names) <= n {
		return strings.Join(names, ", ")
	}
	return fmt.Sprintf("%s and %d more", strings.Join(names[:n], ", "), len(names)-n)
}

// shortCount prints a count with a K/M suffix: 312K, 4.1M.
func shortCount(v float64) string {
	switch {
	case v >= 1e7:
		return fmt.Sprintf("%.0fM", v/1e6)
	case v >= 1e6:
		return fmt.Sprintf("%.1fM", v/1e6)
	case v >= 1e4:
		return fmt.Sprintf("%.0fK", v/1e3)
	}
	return strings.TrimSuffix(fmt.Sprintf("%.0f", v), ".0")
}

// groupThousands formats v rounded to an integer with thousands separated
// by commas.
func groupThousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
