// Package docs holds fastpath's user documentation (the Markdown files here
// and the repository's README.md).
//
// Its tests hold the documents to the code, so that they cannot drift: every
// error message of troubleshooting.md is one the code can produce (the
// code-7 table both ways), every key of configuration.md is one the decoders
// accept and every key they accept is documented, and no document cites a
// source line that a later commit moves. deployments/manifests_test.go
// decodes and validates the examples.
package docs
