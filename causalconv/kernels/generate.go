package kernels

// The assembly kernels (kernels_amd64.s), their Go declarations
// (stubs_amd64.go) and the tile dispatch (dispatch_amd64.go) are written by
// the avo generator in asm/, a module of its own. This directive, in a file
// built on every architecture and with every tag so that go generate always
// sees it, is the one place that runs it: `go generate ./...` from the
// repository root, or `go generate` here or in asm/. The output is
// committed; .ci/run regenerates it and fails if it differs.

//go:generate go run -C asm . -out ../kernels_amd64.s -stubs ../stubs_amd64.go -pkg kernels -dispatch ../dispatch_amd64.go
