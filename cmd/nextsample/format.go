package main

import (
	"fmt"
	"strings"
)

// The number formats of the commands' output, in one place.

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
