package main

import (
	"fmt"
	"strings"

	"github.com/nextsample/nextsample/internal/textfmt"
)

// The number formats of the commands' output, in one place: those the
// libraries' reports share are package textfmt's.

// byteSize formats n bytes for people (textfmt.Bytes, as the libraries'
// reports do).
func byteSize(n int64) string { return textfmt.Bytes(n) }

// firstFew joins the first n of names, saying how many more there are
// (textfmt.FirstFew).
func firstFew(names []string, n int) string { return textfmt.FirstFew(names, n) }

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
