package inflight

import (
	"context"
	"strings"
	"testing"
	"time"
)

func TestPendingAndAbort(t *testing.T) {
	s := New()
	ctx := NewContext(context.Background(), s)
	if FromContext(ctx) != s || FromContext(context.Background()) != nil {
		t.Fatal("FromContext")
	}
	aborted := 0
	leaveA := Enter(ctx, "reading a.wav", nil)
	time.Sleep(2 * time.Millisecond)
	leaveB := Enter(ctx, "running cat b |", func() { aborted++ })
	p := s.Pending()
	if len(p) != 2 || !strings.HasPrefix(p[0], "reading a.wav (for ") || !strings.HasPrefix(p[1], "running cat b | (for ") {
		t.Fatalf("Pending = %q", p)
	}
	s.Abort()
	if aborted != 1 {
		t.Fatalf("aborted %d times", aborted)
	}
	leaveA()
	leaveB()
	if p := s.Pending(); len(p) != 0 {
		t.Fatalf("Pending after leave = %q", p)
	}
	s.Abort()
	if aborted != 1 {
		t.Fatal("Abort called a finished call's abort")
	}
	// Without a Set, Enter is a no-op.
	Enter(context.Background(), "x", func() { t.Fatal("called") })()
}
