// Package duckdb holds end-to-end tests that read what ticketd exports as
// Parquet with DuckDB (github.com/duckdb/duckdb-go), as analysts do. It is a
// module of its own so that neither ticketd's binary nor `go test ./...` of
// the main module links DuckDB (a large cgo library); .ci/run runs it with
// `cd tests/duckdb && go test -race -count=1 ./...`. The tests drive the real
// ticketd binary: TICKETD_BIN when set, else one built from the repository.
package duckdb
