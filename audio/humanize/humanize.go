// Package humanize spells numbers for people, in the units and words that
// nextsample's reports use: sizes in binary units ("12.3 KiB"), durations
// in hours and minutes with the exact seconds beside them ("52 h 07 min
// (187620.481 s)"; "1.5 min" of audio), counted nouns ("1 speaker",
// "3 speakers") and short lists ("a, b and 2 more").
//
// The reports are the text forms of library types, such as a model file's
// description (train.ModelInfo) and a corpus's summary (corpus.Summary),
// which the command line prints. They format through this package so that
// a quantity reads the same in every report.
package humanize

import (
	"fmt"
	"math"
	"strconv"
	"strings"
)

// Bytes formats a size of n bytes in the largest binary unit it reaches:
// "512 B", "12.3 KiB", "4.0 MiB", "1.25 GiB".
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

// HoursMinutes formats a duration of s seconds: from an hour on in hours
// and minutes, from a minute on in minutes and seconds, each rounded to
// the unit shown and followed by the exact seconds; below a minute in
// seconds alone. For example "52 h 07 min (187620.481 s)", "3 min 05 s
// (185.012 s)", "4.250 s".
func HoursMinutes(s float64) string {
	switch {
	case s >= 3600:
		m := int64(math.Round(s / 60))
		return fmt.Sprintf("%d h %02d min (%.3f s)", m/60, m%60, s)
	case s >= 60:
		sec := int64(math.Round(s))
		return fmt.Sprintf("%d min %02d s (%.3f s)", sec/60, sec%60, s)
	}
	return fmt.Sprintf("%.3f s", s)
}

// Count says how many of noun there are, with the noun in the plural
// unless n is 1: Count(1, "speaker") is "1 speaker", Count(0, "file") is
// "0 files". The plural adds an s, which is right for the nouns the
// reports count (speakers, utterances, recordings).
func Count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
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

// ShortCount prints a count or rate with a K/M suffix: 950, 31K, 4.1M, 12M.
func ShortCount(v float64) string {
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

// Thousands formats v rounded to an integer with thousands separated by
// commas: 51,094.
func Thousands(v float64) string {
	s := strconv.FormatInt(int64(math.Round(v)), 10)
	for i := len(s) - 3; i > 0 && s[i-1] != '-'; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}
