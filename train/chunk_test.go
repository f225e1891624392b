package train

import (
	"testing"

	"github.com/nextsample/nextsample/causalconv/kernels"
)

// The chunk a new run takes: 8,192 on the full-width kinds only for
// windows longer than 4,096 (shorter ones are never split, so they train
// and validate as everywhere), 4,096 elsewhere.
func TestChunkFor(t *testing.T) {
	for _, c := range []struct {
		kind kernels.Kind
		crop int
		want int
	}{
		{kernels.KindIntelAVX512, 4000, DefaultChunk},
		{kernels.KindIntelAVX512, 4096, DefaultChunk},
		{kernels.KindIntelAVX512, 4097, FullWidthChunk},
		{kernels.KindIntelAVX512, 16000, FullWidthChunk},
		{kernels.KindZen5, 16000, FullWidthChunk},
		{kernels.KindZen4, 16000, DefaultChunk},
		{kernels.KindOther, 16000, DefaultChunk},
	} {
		if got := ChunkFor(kernels.Machine{Kind: c.kind}, c.crop); got != c.want {
			t.Errorf("%v, crop %d: chunk %d, want %d", c.kind, c.crop, got, c.want)
		}
	}
}
