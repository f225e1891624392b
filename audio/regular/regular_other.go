//go:build !unix

package regular

import "os"

// nonblock is 0 where opening has no non-blocking mode; the Check
// before the open still refuses what is not a regular file.
const nonblock = 0

func clearNonblock(*os.File) error { return nil }
