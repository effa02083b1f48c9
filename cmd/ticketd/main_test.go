package main

import (
	"os"
	"testing"
)

// asTicketdVar, set to 1 in a process's environment, makes the test binary
// ticketd itself: the docs test runs `go run ./cmd/ticketd ARGS` as written
// by calling the test binary with ARGS, so the commands of the docs run
// without a build of their own (also with -short).
const asTicketdVar = "TICKETD_TEST_AS_TICKETD"

func TestMain(m *testing.M) {
	if os.Getenv(asTicketdVar) == "1" {
		main()
	}
	os.Exit(m.Run())
}
