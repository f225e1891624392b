package main

import (
	"bytes"
	"testing"
	"time"
)

func TestStatusLineOffTerminal(t *testing.T) {
	var b bytes.Buffer
	s := newStatusLine(&b, ttyEvery, time.Hour)
	s.draw("1/3", false) // the first update is shown
	s.draw("2/3", false) // within the interval: dropped
	s.clear()            // nothing drawn in place: nothing to erase
	s.draw("3/3", true)  // final: always shown
	if got, want := b.String(), "1/3\n3/3\n"; got != want {
		t.Fatalf("wrote %q, want %q", got, want)
	}
}

func TestStatusLineOnTerminal(t *testing.T) {
	var b bytes.Buffer
	s := &statusLine{w: &b, tty: true, every: time.Hour}
	s.draw("1/3", false)
	s.draw("2/3", false)
	s.clear()
	s.draw("3/3", true)
	s.clear() // the final line is ended: nothing to erase
	if got, want := b.String(), "\r\033[K1/3\r\033[K\r\033[K3/3\n"; got != want {
		t.Fatalf("wrote %q, want %q", got, want)
	}
}
