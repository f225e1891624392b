package train

import (
	"encoding/json"

	"github.com/nextsample/nextsample/causalconv"
)

// SameConfig reports whether two architectures are the same network.
func SameConfig(a, b causalconv.Config) bool {
	ja, _ := json.Marshal(a)
	jb, _ := json.Marshal(b)
	return string(ja) == string(jb)
}
